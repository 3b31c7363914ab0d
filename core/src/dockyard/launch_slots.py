"""A bound on the tasks being launched at once: back-pressure instead of a backlog.

A launch costs memory from TASK_STAGING until its container runs (the record,
the launch config, the containerizer's spawn state, the coroutines awaiting each
stage). The containerizers launch far fewer tasks per second than the HTTP API
accepts (the native one through one supervisor process, Docker through the
Engine), so without a bound a client with a few dozen calls in flight piles up
thousands of accepted tasks in memory, which also brings them nearer to
``--executor_registration_timeout``. With it, a ``LAUNCH_TASK`` beyond the
bound waits for a slot before anything is recorded: the caller's own calls in
flight are the queue, and the agent holds at most ``MAX_LAUNCHING`` launches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from dockyard.ledger import Ledger, TaskRecord
from dockyard.messages import TaskState, TaskStatus

MAX_LAUNCHING = 128
"""Tasks between TASK_STAGING and TASK_RUNNING (or their end) at once: many times more
than the containerizers start in parallel, so the bound only ever costs the waiting."""

LAUNCHING = frozenset({TaskState.TASK_STAGING, TaskState.TASK_STARTING})


class Slot:
    """A reserved launch; handed to the task's record once its TASK_STAGING is recorded."""

    def __init__(self) -> None:
        self.record: TaskRecord | None = None

    def hand_to(self, record: TaskRecord) -> None:
        self.record = record


class LaunchSlots:
    def __init__(self, ledger: Ledger) -> None:
        self._free = asyncio.Semaphore(MAX_LAUNCHING)
        self._holders: set[str] = set()
        """Keys of the records holding a slot (launched here, still launching)."""
        ledger.listen(self._published)

    @contextlib.asynccontextmanager
    async def reserve(self) -> AsyncIterator[Slot]:
        """Wait for a free slot; it stays taken only if handed to a launching record."""
        await self._free.acquire()
        slot = Slot()
        try:
            yield slot
        finally:
            record = slot.record
            if record is not None and record.head_state in LAUNCHING:
                self._holders.add(record.key)
            else:
                self._free.release()

    def _published(self, record: TaskRecord, status: TaskStatus) -> None:
        if status.state not in LAUNCHING and record.key in self._holders:
            self._holders.discard(record.key)
            self._free.release()
