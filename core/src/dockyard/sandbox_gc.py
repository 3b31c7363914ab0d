"""Garbage collection of the sandboxes of ended containers, with Mesos's semantics.

A container's sandbox run (and the ledger's records of its tasks) is removed
``--gc_delay`` after the container's last task ended, sooner as the disk fills:
the age allowed is ``gc_delay * max(0, 1 - gc_disk_headroom - disk usage)``,
re-evaluated every ``--disk_watch_interval``. What is due is read from the
ledger, so collection scheduled before a restart still happens after it. A
container that still runs is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockyard.background import Background
from dockyard.ledger import Ledger, TaskRecord
from dockyard.messages import TaskStatus

log = logging.getLogger(__name__)

MIN_WAIT = 0.1
"""Seconds between passes at the least, so a due sandbox still in use is no busy loop."""

BATCH = 256
"""Sandboxes removed per pass before the disk usage is looked at again."""


@dataclass
class GcCounters:
    succeeded: int = 0
    failed: int = 0


class SandboxCollector:
    def __init__(
        self,
        *,
        ledger: Ledger,
        background: Background,
        work_dir: Path,
        gc_delay: float,
        disk_headroom: float,
        disk_watch_interval: float,
        in_use: Callable[[str], bool],
    ) -> None:
        self._ledger = ledger
        self._background = background
        self._work_dir = work_dir
        self._delay = gc_delay
        self._headroom = disk_headroom
        self._interval = disk_watch_interval
        self._in_use = in_use
        self._ended = asyncio.Event()
        self._next_pass = 0.0
        """Wall-clock time of the next pass; an ending due earlier wakes the collector."""
        self._allowed = gc_delay
        self.counters = GcCounters()
        self.pending = 0
        """Ended containers whose sandboxes are still on disk, as of the last pass."""

    def start(self) -> None:
        self._ledger.listen(self._published)
        self._background.spawn(self._run(), name="sandbox gc")

    def _published(self, record: TaskRecord, status: TaskStatus) -> None:
        if record.terminal and time.time() + self._allowed < self._next_pass:
            self._ended.set()

    def allowed_age(self) -> float:
        """Seconds an ended container's sandbox may stay, given the disk's usage now."""
        usage = disk_usage(self._work_dir)
        return self._delay * max(0.0, 1.0 - self._headroom - usage)

    async def _run(self) -> None:
        while True:
            self._ended.clear()
            self._allowed = allowed = self.allowed_age()
            await self.collect(time.time() - allowed)
            oldest = await self._ledger.oldest_end()
            wait = self._interval
            if oldest is not None:  # wake when it is due (or soon, if it is still in use)
                wait = min(wait, max(MIN_WAIT, oldest + allowed - time.time()))
            self._next_pass = time.time() + wait
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that comes as
            # the event is set (a task ending just before stop()), and this loop never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._ended.wait()

    async def collect(self, cutoff: float) -> int:
        """Remove every sandbox whose container ended before ``cutoff``; how many."""
        removed = 0
        while True:
            due = await self._ledger.ended_before(cutoff, BATCH)
            due = [item for item in due if not self._in_use(item[0])]
            self.pending = len(due)
            if not due:
                return removed
            for _, sandbox, keys in due:
                if await asyncio.to_thread(remove_sandbox, self._work_dir, Path(sandbox)):
                    self.counters.succeeded += 1
                    removed += 1
                else:
                    self.counters.failed += 1
                await self._ledger.forget(keys)
            if len(due) < BATCH:
                self.pending = 0
                return removed


def disk_usage(path: Path) -> float:
    """Fraction of the file system holding ``path`` that is used (0 if unknown)."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return 0.0
    if stats.f_blocks == 0:
        return 0.0
    return 1.0 - stats.f_bavail / stats.f_blocks


def remove_sandbox(work_dir: Path, sandbox: Path) -> bool:
    """Remove one run directory, repoint or drop ``latest``, and prune emptied parents.

    ``shutil.rmtree`` works through directory fds and never follows a link a task
    left in its sandbox. Returns False (logged) when the removal failed; the
    records are forgotten all the same, so one bad path cannot stall collection.
    """
    slaves = work_dir / "slaves"
    containers = work_dir / "containers"
    if not (sandbox.is_relative_to(slaves) or sandbox.is_relative_to(containers)):
        log.error("not collecting %s: outside the sandboxes", sandbox)
        return False
    ok = True
    if sandbox.is_symlink():
        log.error("not collecting %s: it is a symbolic link", sandbox)
        ok = False
    elif sandbox.exists():
        try:
            shutil.rmtree(sandbox)
        except OSError as error:
            log.error("collecting %s: %s", sandbox, error)
            ok = False
    runs = sandbox.parent
    if runs.name == "runs":
        repoint_latest(runs, sandbox.name)
        prune_empty(runs, stop=slaves)
    return ok


def repoint_latest(runs: Path, removed: str) -> None:
    latest = runs / "latest"
    try:
        if os.readlink(latest) != removed:
            return
    except OSError:
        return
    remaining = [run for run in runs.iterdir() if run.name != "latest" and not run.is_symlink()]
    if not remaining:
        latest.unlink(missing_ok=True)
        return
    newest = max(remaining, key=lambda run: run.stat().st_mtime)
    tmp = runs / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(newest.name)
    os.replace(tmp, latest)


def prune_empty(directory: Path, stop: Path) -> None:
    """Remove ``directory`` and its parents while they are empty, up to ``stop``.

    A launch that creates a sandbox meanwhile retries its mkdir (see
    ``dockyard.sandbox.create_sandbox``), so removing a parent it needs is harmless.
    """
    while directory != stop and directory.is_relative_to(stop):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
