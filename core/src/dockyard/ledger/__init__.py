"""The status ledger: every task record and status update, durable before it is seen.

All of the agent's task state goes through here. An update is appended, written
with the others of its event-loop batch in one transaction (group commit: one
fsync for the batch), and only then published, in order, to the in-memory
record, GET_TASKS, SUBSCRIBE readers, in-process listeners and whoever awaits it
(an executor's ACK). When the disk fails, new launches are refused
(:class:`StorageError`) and updates of running tasks are held and retried,
unpublished, until the write succeeds. Completed tasks beyond the retention
bounds leave memory, not the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dockyard.dispatcher import container_key
from dockyard.ledger.feed import Feed, task_updated_event
from dockyard.ledger.records import (
    TaskRecord,
    checksum,
    decode_record,
    identity_json,
    progress_json,
    status_json,
)
from dockyard.ledger.store import Batch, LedgerStore, StorageError, StoredTask
from dockyard.messages import MessageError, StatusSource, TaskState, TaskStatus
from dockyard.statuses import TERMINAL_STATES

__all__ = ["Damaged", "Ledger", "Retention", "StatusListener", "StorageError", "TaskRecord"]

log = logging.getLogger(__name__)

MAX_TASK_BYTES = 1 << 20
"""Largest TaskInfo (as JSON) a launch may carry: the ledger keeps it for the task's life."""

MAX_STATUS_BYTES = 256 << 10
"""Largest status update (as JSON) an executor may send."""

CLOSE_TIMEOUT = 10.0
"""How long stopping waits for held updates to reach a failing disk."""

RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

T = TypeVar("T")

StatusListener = Callable[[TaskRecord, TaskStatus], None]


def live_key(record: TaskRecord) -> tuple[str, str]:
    return (record.framework_id, record.task.task_id.value)


@dataclass(frozen=True)
class Retention:
    """How many completed tasks stay in memory (and in GET_TASKS).

    Per framework, as Mesos bounds them; and, as Mesos's agent keeps at most 50
    completed frameworks, only the frameworks with a live task or among the
    ``completed_frameworks`` that most recently had a task end keep theirs: a
    client naming a new framework in every launch cannot grow memory without end.
    """

    executors_per_framework: int = 150
    tasks_per_framework: int = 1000
    completed_frameworks: int = 50


@dataclass
class Damaged:
    """A task whose rows failed their checks at start: quarantined, to be reported."""

    framework_id: str
    task_id: str
    container_id: str
    problem: str
    quarantined_at: Path


@dataclass(eq=False)
class _Entry:
    record: TaskRecord
    status: TaskStatus | None = None
    status_text: str = ""
    identity: str | None = None
    progress: str | None = None
    done: asyncio.Future[None] | None = None
    seq: int = 0
    pos: int = 0
    event: bytes = b""


@dataclass
class _Completed:
    """Completed tasks of one framework, oldest container first."""

    containers: OrderedDict[str, list[str]] = field(default_factory=OrderedDict)
    tasks: int = 0


class Ledger:
    def __init__(self, meta_dir: Path, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        self.quarantine_dir = meta_dir / "quarantine"
        self._store = LedgerStore(meta_dir / "ledger.sqlite", self.quarantine_dir)
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._records: dict[str, TaskRecord] = {}
        self._live: dict[tuple[str, str], TaskRecord] = {}
        """Tasks not ending, by (framework id, task id): a task id runs once at a time."""
        self._completed: OrderedDict[str, _Completed] = OrderedDict()
        """By framework, the one whose task ended most recently last."""
        self._live_frameworks = Counter[str]()
        """Tasks in ``_live`` by framework id."""
        self._listeners: list[StatusListener] = []
        self._pending: list[_Entry] = []
        self._writing: list[_Entry] = []
        """The flusher's current batch: being written, or held while the disk fails."""
        self._flusher: asyncio.Task[None] | None = None
        self._store_lock = asyncio.Lock()
        """The store's connection serves one statement at a time: a batch is staged on
        the event loop and committed on the writing thread, other reads run there."""
        self.failure: str | None = None
        """Why the last write failed, while writes are failing."""
        self.feed = Feed(self._read_log)
        self.ended = Counter[TaskState]()
        """Terminal updates published since the agent started, by state."""

    # -- opening and closing -----------------------------------------------------

    def open(self) -> tuple[list[Damaged], Path | None]:
        """Load the kept records; returns what was damaged and quarantined."""
        loaded = self._store.open(self.retention.tasks_per_framework)
        self.feed.start_at(loaded.head_seq, loaded.head_pos)
        damaged, restored = [], []
        for stored in loaded.tasks:  # in launch order, as tasks() lists them
            problem = self._restore(stored)
            if problem is not None:
                damaged.append(self._quarantine(stored, problem))
            elif self._records[stored.key].terminal:
                restored.append(stored)
        # Retention evicts the earliest ended first: count them in the order they ended.
        for stored in sorted(restored, key=lambda stored: stored.completed or 0):
            self._completed_one(self._records[stored.key])
        return damaged, loaded.quarantined_file

    def _restore(self, stored: StoredTask) -> str | None:
        """Trust and keep ``stored``; else say what is wrong with it."""
        if checksum(stored.identity) != stored.identity_crc:
            return "its identity row fails its checksum"
        if checksum(stored.progress) != stored.progress_crc:
            return "its progress row fails its checksum"
        if any(checksum(text) != crc for text, crc in stored.statuses):
            return "a status row fails its checksum"
        try:
            record = decode_record(
                stored.identity, stored.progress, [text for text, _ in stored.statuses]
            )
        except Exception as error:
            return f"it cannot be decoded ({type(error).__name__}: {error})"
        if record.key != stored.key or not record.statuses:
            return "its rows do not agree with each other"
        self._records[record.key] = record
        if not record.terminal:
            self._go_live(record)
        return None

    def _quarantine(self, stored: StoredTask, problem: str) -> Damaged:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        # Named by a digest: a task id and its container id together may not fit NAME_MAX.
        digest = hashlib.sha256(stored.key.encode()).hexdigest()[:32]
        path = self.quarantine_dir / f"task-{digest}.json"
        path.write_text(
            json.dumps(
                {
                    "problem": problem,
                    "framework_id": stored.framework_id,
                    "task_id": stored.task_id,
                    "container_id": stored.container_id,
                    "identity": stored.identity,
                    "progress": stored.progress,
                    "statuses": [text for text, _ in stored.statuses],
                }
            )
        )
        self._store.forget([stored.key])
        log.error("task record %s is damaged (%s); quarantined at %s", stored.key, problem, path)
        return Damaged(stored.framework_id, stored.task_id, stored.container_id, problem, path)

    async def close(self) -> None:
        """Write what is pending (unless the disk keeps failing), then close the store."""
        if self._io._shutdown:
            return
        if self._flusher is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._flusher), CLOSE_TIMEOUT)
            except TimeoutError:
                log.error("closing with %d updates the disk did not take", self.held)
                self._flusher.cancel()
        self.feed.close()
        await self._on_io(self._store.close)
        self._io.shutdown(wait=False)

    # -- reading -----------------------------------------------------------------

    def tasks(self) -> list[TaskRecord]:
        """Every published record kept in memory, oldest first."""
        return [record for record in self._records.values() if record.statuses]

    def get(self, key: str) -> TaskRecord | None:
        return self._records.get(key)

    def listen(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` on every published update; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def settled(self) -> None:
        """Wait until every accepted update is durable and published."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    @property
    def held(self) -> int:
        """Updates accepted but not yet durable."""
        return len(self._writing) + len(self._pending)

    # -- writing -----------------------------------------------------------------

    async def insert(self, record: TaskRecord, first: TaskStatus) -> None:
        """Record a new task with its first update; raises StorageError, leaving nothing."""
        identity = identity_json(record)
        if len(identity) > MAX_TASK_BYTES:
            raise MessageError.at(
                "task",
                f"the task is {len(identity)} bytes as JSON; the limit is "
                f"{MAX_TASK_BYTES >> 20} MiB",
            )
        self._records[record.key] = record
        self._go_live(record)
        record.head_state = first.state
        entry = self._entry(record, first)
        entry.identity = identity
        entry.progress = progress_json(record)
        entry.done = asyncio.get_running_loop().create_future()
        self._enqueue(entry)
        try:
            await entry.done
        except StorageError:
            self._records.pop(record.key, None)
            self._leave_live(record)
            raise

    def append(
        self, record: TaskRecord, status: TaskStatus, *, save: bool = False
    ) -> asyncio.Future[None]:
        """Accept ``status``; the returned future completes once it is durable and published.
        ``save`` writes the record's progress fields with it (as :meth:`save` would).

        Raises MessageError for an executor's update too large to keep, before it
        changes anything. The agent's own updates are not limited: what they carry
        (e.g. ``docker inspect`` as TASK_RUNNING data) grows with the TaskInfo, which
        ``MAX_TASK_BYTES`` bounds.
        """
        entry = self._entry(record, status)
        from_executor = status.source is StatusSource.SOURCE_EXECUTOR
        if from_executor and len(entry.status_text) > MAX_STATUS_BYTES:
            raise MessageError.at(
                "status",
                f"the update is {len(entry.status_text)} bytes as JSON; the limit is "
                f"{MAX_STATUS_BYTES >> 10} KiB",
            )
        if save:
            entry.progress = progress_json(record)
        record.head_state = status.state
        if status.state in TERMINAL_STATES:
            self._leave_live(record)
        entry.done = asyncio.get_running_loop().create_future()
        self._enqueue(entry)
        return entry.done

    def save(self, record: TaskRecord) -> asyncio.Future[None]:
        """Persist the record's progress fields (containerizer, handle, kill cause...)."""
        entry = _Entry(record, progress=progress_json(record))
        entry.done = asyncio.get_running_loop().create_future()
        self._enqueue(entry)
        return entry.done

    def accepted(self) -> list[TaskRecord]:
        """Every record in memory, also those whose launch is not yet durable."""
        return list(self._records.values())

    def live(self, framework_id: str, task_id: str) -> TaskRecord | None:
        """The task with this id that is not ending, launched or still being recorded."""
        return self._live.get((framework_id, task_id))

    def _go_live(self, record: TaskRecord) -> None:
        self._live[live_key(record)] = record
        self._live_frameworks[record.framework_id] += 1

    def _leave_live(self, record: TaskRecord) -> None:
        if self._live.get(live_key(record)) is record:
            del self._live[live_key(record)]
            self._live_frameworks[record.framework_id] -= 1
            if not self._live_frameworks[record.framework_id]:
                del self._live_frameworks[record.framework_id]

    def _entry(self, record: TaskRecord, status: TaskStatus) -> _Entry:
        return _Entry(record, status=status, status_text=status_json(status))

    def _enqueue(self, entry: _Entry) -> None:
        self._pending.append(entry)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            self._writing, self._pending = self._pending, []
            attempt = 0
            while True:
                try:
                    async with self._store_lock:
                        await self._write(loop, self._batch(self._writing))
                    break
                except StorageError as error:
                    if self.failure is None:
                        log.error("%s; holding %d updates and retrying", error, self.held)
                    self.failure = str(error)
                    self._writing = [e for e in self._writing if not self._refused(e, error)]
                    await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                    attempt += 1
                    self._writing.extend(self._pending)  # what came meanwhile goes behind
                    self._pending = []
            entries, self._writing = self._writing, []  # none left if all were refused
            if self.failure is not None:
                log.warning("the ledger writes again; publishing %d held updates", len(entries))
                self.failure = None
            for entry in entries:
                self._publish(entry)

    async def _write(self, loop: asyncio.AbstractEventLoop, batch: Batch) -> None:
        """Stage and commit ``batch``. Anything but a storage failure is a bug, and is
        held and retried the same way: a flusher that died of it would leave every later
        update, and whoever waits for one, hanging unseen."""
        try:
            self._store.stage(batch)
            await loop.run_in_executor(self._io, self._store.commit)
        except StorageError:
            raise
        except Exception as error:
            log.exception("writing the ledger failed")
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._io, self._store.roll_back)
            raise StorageError(
                f"cannot write the ledger: {type(error).__name__}: {error}"
            ) from None

    def _refused(self, entry: _Entry, error: StorageError) -> bool:
        """New launches fail at once; updates of running tasks are held."""
        if entry.identity is None:
            return False
        assert entry.done is not None
        if not entry.done.done():
            entry.done.set_exception(StorageError(f"The agent cannot record new tasks: {error}"))
        return True

    def _batch(self, entries: list[_Entry]) -> Batch:
        """The rows for ``entries``, numbering their events after the published head."""
        batch = Batch()
        seq, pos = self.feed.head_seq, self.feed.head_pos
        for entry in entries:
            record = entry.record
            if entry.identity is not None:
                assert entry.progress is not None
                batch.inserts.append(
                    (
                        record.key,
                        record.framework_id,
                        record.task.task_id.value,
                        container_key(record.container_id),
                        str(record.sandbox),
                        entry.identity,
                        checksum(entry.identity),
                        entry.progress,
                        checksum(entry.progress),
                    )
                )
            elif entry.progress is not None:
                batch.progress.append((entry.progress, checksum(entry.progress), record.key))
            if entry.status is not None:
                seq += 1
                entry.event = entry.event or task_updated_event(
                    record.framework_id, entry.status_text, entry.status.state.name
                )
                pos += len(entry.event)
                entry.seq, entry.pos = seq, pos
                batch.statuses.append(
                    (
                        seq,
                        record.key,
                        record.framework_id,
                        entry.status_text,
                        checksum(entry.status_text),
                        pos,
                    )
                )
                if entry.status.state in TERMINAL_STATES:
                    ended_at = entry.status.timestamp or time.time()
                    batch.completed.append((seq, ended_at, record.key))
        return batch

    def _publish(self, entry: _Entry) -> None:
        status = entry.status
        if status is not None:
            record = entry.record
            record.statuses.append(status)
            self.feed.push(entry.seq, entry.pos, entry.event)
            for listener in list(self._listeners):
                try:
                    listener(record, status)
                except Exception:
                    log.exception("status listener failed")
            if status.state in TERMINAL_STATES:
                self.ended[status.state] += 1
                self._completed_one(record)
        if entry.done is not None and not entry.done.done():
            entry.done.set_result(None)

    # -- retention ---------------------------------------------------------------

    def _completed_one(self, record: TaskRecord) -> None:
        """Count ``record`` as completed, and let the oldest completed ones leave memory."""
        completed = self._completed.setdefault(record.framework_id, _Completed())
        self._completed.move_to_end(record.framework_id)
        container = container_key(record.container_id)
        keys = completed.containers.setdefault(container, [])
        completed.containers.move_to_end(container)
        keys.append(record.key)
        completed.tasks += 1
        while completed.containers and (
            len(completed.containers) > self.retention.executors_per_framework
            or completed.tasks > self.retention.tasks_per_framework
        ):
            oldest, oldest_keys = next(iter(completed.containers.items()))
            key = oldest_keys.pop(0)
            completed.tasks -= 1
            if not oldest_keys:
                del completed.containers[oldest]
            self._evict(key)
        self._forget_idle_frameworks()

    def _forget_idle_frameworks(self) -> None:
        """Frameworks without a live task beyond the newest ``completed_frameworks`` leave."""
        if len(self._completed) <= self.retention.completed_frameworks:
            return  # fewer idle ones than that: nothing to look for at every task's end
        idle = [name for name in self._completed if name not in self._live_frameworks]
        for name in idle[: max(0, len(idle) - self.retention.completed_frameworks)]:
            for keys in self._completed.pop(name).containers.values():
                for key in keys:
                    self._evict(key)

    def _evict(self, key: str) -> None:
        evicted = self._records.get(key)
        if evicted is not None and evicted.terminal:
            del self._records[key]

    # -- the log -----------------------------------------------------------------

    async def _read_log(self, after_seq: int, limit: int) -> list[tuple[int, int, str, str]]:
        return await self._on_io(self._store.read_log, after_seq, limit)

    async def forget(self, keys: list[str]) -> None:
        """Drop completed tasks from memory and disk (their sandboxes were collected)."""
        for key in keys:
            record = self._records.get(key)
            if record is not None and record.terminal:
                del self._records[key]
                self._uncount(record)
        await self._on_io(self._store.forget, keys)

    def _uncount(self, record: TaskRecord) -> None:
        completed = self._completed.get(record.framework_id)
        container = container_key(record.container_id)
        keys = completed.containers.get(container) if completed else None
        if completed is None or keys is None or record.key not in keys:
            return
        keys.remove(record.key)
        completed.tasks -= 1
        if not keys:
            del completed.containers[container]

    async def ended_before(self, cutoff: float, limit: int) -> list[tuple[str, str, list[str]]]:
        """Containers whose tasks all ended before ``cutoff``: (container id, sandbox, keys)."""
        return await self._on_io(self._store.ended_before, cutoff, limit)

    async def oldest_end(self) -> float | None:
        return await self._on_io(self._store.oldest_end)

    async def _on_io(self, function: Callable[..., T], *args: object) -> T:
        async with self._store_lock:
            return await asyncio.get_running_loop().run_in_executor(self._io, function, *args)
