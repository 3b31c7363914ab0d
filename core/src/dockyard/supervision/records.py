"""The supervisor's memory on disk: one append-only log, ``<state_dir>/tasks.log``.

A task's record is appended when it starts (so a new supervisor can adopt it), when a kill
is asked for, and when it ends; ``forget`` appends a tombstone (line format and replay:
:mod:`dockyard.supervision.record_lines`). An append is one ``write`` to a file opened
``O_APPEND``: no file is created, renamed or deleted per task. (A file per task cost two
inode allocations and two frees per task, which ext4 without a journal makes slow: it skips
inodes freed in the last minutes.) Exits are durable by *group commit*: an exit marks the
log dirty and one ``fdatasync`` at the end of the event-loop batch covers every exit of the
batch. The exit is pushed to clients before it (the agent records it durably itself).

A write or sync that fails (a full disk, EIO) neither drops an update nor stops the
supervisor: the records concerned stay in memory and are written again, whole, after a
back-off, then synced. A spawn whose record cannot be written is refused instead
(:meth:`RecordLog.add` raises).

Dead lines (superseded records, forgotten tasks) are dropped by *compaction*: once they
outweigh the live ones ``COMPACT_DEAD_RATIO`` times over (and the log is at least
``COMPACT_MIN_BYTES``), the live records are written to a new file that replaces the log.

At start, :meth:`RecordLog.load` replays the log. A line a crash cut short at its end is
dropped with a warning; a damaged line elsewhere is reported with the task it seems to name,
the log is copied to ``<state_dir>/quarantine/`` and rewritten from what could be read. The
records of a supervisor from before the log (``<state_dir>/tasks/<id>.json``) are adopted
into it, then their files removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

from dockyard.supervision import legacy_records
from dockyard.supervision.protocol import ProcessRecord
from dockyard.supervision.record_lines import (
    Replay,
    forget_line,
    latest_kind,
    record_line,
    replay,
)

log = logging.getLogger(__name__)

LOG_NAME = "tasks.log"
COMPACTING_NAME = "tasks.log.compacting"
QUARANTINE_DIR = "quarantine"

COMPACT_MIN_BYTES = 1 << 20
COMPACT_DEAD_RATIO = 4
RETRY_DELAYS = (0.1, 0.5, 2.0, 5.0)
"""Seconds before writing again what failed to be written or synced (the last repeats)."""

NAME_MAX = 255
ID_MAX = NAME_MAX - len(".json")
"""What a record file name allowed before the log: kept, as ids also name cgroups."""


def id_problem(process_id: str) -> str | None:
    """Why ``process_id`` cannot name a task, or None: it must be one path component (it
    names the task's cgroups; a container id is one, by the core's id rules)."""
    if process_id in ("", ".", ".."):
        return f"{process_id!r} is not a file name"
    if "/" in process_id or "\0" in process_id:
        return f"{process_id!r} contains '/' or NUL"
    if len(process_id.encode(errors="surrogateescape")) > ID_MAX:
        return f"it is longer than {ID_MAX} bytes"
    return None


def read_records(state_dir: Path) -> dict[str, ProcessRecord]:
    """The records a state dir's log holds, read without changing anything (for tools and
    tests; the supervisor itself uses :meth:`RecordLog.load`)."""
    try:
        data = (state_dir / LOG_NAME).read_bytes()
    except FileNotFoundError:
        return {}
    return replay(data).records


class RecordLog:
    """The records of one supervisor, which must hold the state dir's lock."""

    def __init__(self, state_dir: Path) -> None:
        self._directory = state_dir
        self._path = state_dir / LOG_NAME
        self._loop = asyncio.get_running_loop()
        self._fd = -1
        self._size = 0
        self._records: dict[str, ProcessRecord] = {}
        self._line_bytes: dict[str, int] = {}
        """Length of each remembered task's latest line on disk."""
        self._live_bytes = 0
        self._unwritten: dict[str, None] = {}
        """Tasks whose latest state is not in the file (a write failed), in order."""
        self._unsynced: set[str] = set()
        """Tasks with a durable update written since the last sync."""
        self._dirty = False
        self._needs_newline = False
        """A failed write left a partial line that could not be cut off: end it first."""
        self._batch_end: asyncio.Handle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._failures = 0
        self._compact_at = COMPACT_MIN_BYTES

    # -- the supervisor's calls -------------------------------------------------------

    def load(self) -> list[ProcessRecord]:
        """Replay the log (repairing what a crash or damage left), adopt records of a
        supervisor from before the log, and open it for appending."""
        self._directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):  # a compaction a crash cut short
            (self._directory / COMPACTING_NAME).unlink()
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            data = b""
        replayed = replay(data)
        self._open_log()
        self._take(replayed, replayed.complete_bytes)
        torn, path = replayed.torn_bytes(len(data)), self._path
        if torn:
            log.warning("dropping the last %d bytes of %s: a crash cut them short", torn, path)
            self._cut_back(replayed.complete_bytes)
        if replayed.damage and self._quarantine(replayed):
            self._compact()
        self._adopt_legacy_records()
        return list(self._records.values())

    def add(self, record: ProcessRecord) -> None:
        """Record a new task; raises OSError if it cannot be written (it must not run)."""
        self._records[record.id] = record
        try:
            self._append([(record.id, record_line("spawn", record))])
        except OSError:
            del self._records[record.id]
            raise

    def update(self, record: ProcessRecord, *, durable: bool) -> None:
        """Record a task's new state; ``durable``: synced at the end of this loop batch.

        Never raises: what cannot be written now is written later.
        """
        self._records[record.id] = record
        self._unwritten[record.id] = None
        if durable:
            self._unsynced.add(record.id)
            self._dirty = True
        self._flush()

    def forget(self, task_id: str) -> None:
        if self._records.pop(task_id, None) is None:
            return
        self._unsynced.discard(task_id)
        self._unwritten[task_id] = None
        self._flush()

    def close(self) -> None:
        """Write and sync what is still waiting (the supervisor is exiting)."""
        for handle in (self._batch_end, self._retry):
            if handle is not None:
                handle.cancel()
        self._end_batch()
        if self._retry is not None:
            self._retry.cancel()
            log.error("exiting with %d task record(s) not written", len(self._unwritten))
        os.close(self._fd)

    # -- appending --------------------------------------------------------------------

    def _flush(self) -> None:
        """Write the unwritten records now; on failure (or while a retry is pending) leave
        them for the retry."""
        if self._retry is not None:
            return
        if self._unwritten:
            try:
                self._append([])
            except OSError as error:
                self._failed("write", error)
        if self._dirty or self._size >= self._compact_at:
            self._schedule_batch_end()

    def _append(self, lines: list[tuple[str, bytes]]) -> None:
        """Write the unwritten records and ``lines`` in one ``write``, all or nothing."""
        entries = [(task_id, self._latest_line(task_id)) for task_id in self._unwritten] + lines
        data = b"".join(line for _, line in entries)
        if self._needs_newline:
            data = b"\n" + data
        start = self._size
        try:
            _write_all(self._fd, data)
        except OSError:
            self._cut_back(start)
            raise
        self._size += len(data)
        self._needs_newline = False
        self._unwritten.clear()
        for task_id, line in entries:
            self._count_line(task_id, line)

    def _latest_line(self, task_id: str) -> bytes:
        record = self._records.get(task_id)
        return forget_line(task_id) if record is None else record_line(latest_kind(record), record)

    def _count_line(self, task_id: str, line: bytes) -> None:
        self._live_bytes -= self._line_bytes.pop(task_id, 0)
        if task_id in self._records:
            self._line_bytes[task_id] = len(line)
            self._live_bytes += len(line)

    def _cut_back(self, size: int) -> None:
        """Drop a partial write, so that no torn line stays in the middle of the log."""
        try:
            os.ftruncate(self._fd, size)
            self._size = size
        except OSError as error:
            log.error("cannot cut a failed write off %s: %s", self._path, error)
            self._size = os.fstat(self._fd).st_size
            self._needs_newline = True

    # -- group commit, retries, compaction --------------------------------------------

    def _schedule_batch_end(self) -> None:
        if self._batch_end is None and self._retry is None:
            self._batch_end = self._loop.call_soon(self._end_batch)

    def _end_batch(self) -> None:
        """Once per loop batch: write what waits, compact if due, else sync if dirty."""
        self._batch_end = self._retry = None
        if self._unwritten:
            try:
                self._append([])
            except OSError as error:
                self._failed("write", error)
                return
        if self._size >= self._compact_at and self._dead_bytes() > (
            COMPACT_DEAD_RATIO * self._live_bytes
        ):
            self._compact()
        if self._dirty:
            try:
                os.fdatasync(self._fd)
            except OSError as error:  # its pages may be lost: write those records again
                self._unwritten.update(dict.fromkeys(self._unsynced))
                self._failed("sync", error)
                return
            self._dirty = False
            self._unsynced.clear()
        if self._failures:
            log.info("%s is written again", self._path)
            self._failures = 0

    def _failed(self, step: str, error: OSError) -> None:
        delay = RETRY_DELAYS[min(self._failures, len(RETRY_DELAYS) - 1)]
        self._failures += 1
        log.error(
            "cannot %s %s (%s): %d task record(s) wait, trying again in %gs",
            step,
            self._path,
            error.strerror or error,
            len(self._unwritten),
            delay,
        )
        if self._batch_end is not None:
            self._batch_end.cancel()
            self._batch_end = None
        if self._retry is None:
            self._retry = self._loop.call_later(delay, self._end_batch)

    def _dead_bytes(self) -> int:
        return self._size - self._live_bytes

    def _compact(self) -> None:
        """Replace the log with the live records alone (synced: it covers the dirty ones)."""
        started = time.perf_counter()
        before = self._size
        lines = [(task_id, record_line(latest_kind(r), r)) for task_id, r in self._records.items()]
        data = b"".join(line for _, line in lines)
        compacting = self._directory / COMPACTING_NAME
        try:
            fd = _open_for_appending(compacting, os.O_TRUNC)
        except OSError as error:
            self._compaction_failed(error)
            return
        try:
            _write_all(fd, data)
            os.fdatasync(fd)
            os.rename(compacting, self._path)
        except OSError as error:
            os.close(fd)
            with contextlib.suppress(OSError):
                compacting.unlink()
            self._compaction_failed(error)
            return
        os.close(self._fd)
        self._fd = fd
        self._size = len(data)
        self._line_bytes = {task_id: len(line) for task_id, line in lines}
        self._live_bytes = len(data)
        self._unwritten.clear()
        self._unsynced.clear()
        self._dirty = self._needs_newline = False
        self._sync_directory()
        self._compact_at = COMPACT_MIN_BYTES
        log.info(
            "compacted %s: %d -> %d bytes, %d record(s), in %.1f ms",
            self._path,
            before,
            self._size,
            len(lines),
            (time.perf_counter() - started) * 1000,
        )

    def _compaction_failed(self, error: OSError) -> None:
        log.error("cannot compact %s: %s", self._path, error.strerror or error)
        self._compact_at = self._size + COMPACT_MIN_BYTES  # not again before it has grown

    def _sync_directory(self) -> None:
        """Make a created or renamed file's name durable."""
        try:
            directory = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as error:
            log.error("cannot sync %s: %s", self._directory, error.strerror or error)

    # -- start ------------------------------------------------------------------------

    def _open_log(self) -> None:
        created = not self._path.exists()
        self._fd = _open_for_appending(self._path)
        if created:
            self._sync_directory()

    def _take(self, replayed: Replay, size: int) -> None:
        self._records = replayed.records
        self._line_bytes = replayed.line_bytes
        self._live_bytes = sum(replayed.line_bytes.values())
        self._size = size

    def _quarantine(self, replayed: Replay) -> bool:
        """Report damaged lines and keep a copy of the log; whether the copy was made."""
        for damage in replayed.damage:
            log.error(
                "line %d of %s is damaged (%s); it seems to name task %s",
                damage.line_number,
                self._path,
                damage.problem,
                damage.task_id or "(none readable)",
            )
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        copy = self._directory / QUARANTINE_DIR / f"{LOG_NAME}.{stamp}.{os.getpid()}"
        try:
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(self._path, copy)
        except OSError as error:
            log.error("cannot quarantine %s (%s): keeping it as it is", self._path, error)
            return False
        log.error(
            "%d damaged line(s) in %s: copied to %s; %d task record(s) read from the rest",
            len(replayed.damage),
            self._path,
            copy,
            len(replayed.records),
        )
        return True

    def _adopt_legacy_records(self) -> None:
        """Make the records of a supervisor from before the log durable in it, then remove
        their files (a crash in between adopts them again: the log's copy wins)."""
        legacy = legacy_records.read(self._directory, self._directory / QUARANTINE_DIR)
        if legacy is None:
            return
        for record in legacy:
            if record.id not in self._records:
                self._records[record.id] = record
                self._unwritten[record.id] = None
                self._unsynced.add(record.id)
                self._dirty = True
        self._end_batch()
        if self._dirty or self._unwritten:
            log.error("cannot adopt the old task records yet: keeping their files")
            return
        legacy_records.remove(self._directory)
        self._sync_directory()
        log.info("adopted %d old task record(s) into %s", len(legacy), self._path)


def _write_all(fd: int, data: bytes) -> None:
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])


def _open_for_appending(path: Path, flags: int = 0) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | flags, 0o600)
