"""Container removal after ``--docker_remove_delay``, recorded on disk so a restart keeps it.

Mesos keeps this timer in memory only, so an agent restart leaks the container.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

Remove = Callable[[str], Awaitable[None]]

log = logging.getLogger(__name__)


class RemovalSchedule:
    def __init__(self, path: Path, remove: Remove) -> None:
        self._path = path
        self._remove = remove
        self._due: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self) -> None:
        """Re-arm the removals recorded by an earlier agent (overdue ones run now)."""
        if self._path.exists():
            for docker_id, due in json.loads(self._path.read_text()).items():
                self._arm(docker_id, float(due))

    def schedule(self, docker_id: str, delay_seconds: float) -> None:
        self._arm(docker_id, time.time() + delay_seconds)
        self._save()

    def pending(self) -> dict[str, float]:
        return dict(self._due)

    async def stop(self) -> None:
        """Agent shut-down: do the removals that are due (a one-shot launch's own
        container), and forget the other timers; the file keeps the schedule."""
        now = time.time()
        for docker_id, due in self._due.items():
            if due <= now and docker_id in self._timers:
                self._fire(docker_id)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await asyncio.gather(*self._tasks)

    def _arm(self, docker_id: str, due: float) -> None:
        self._due[docker_id] = due
        if docker_id in self._timers:
            self._timers[docker_id].cancel()
        loop = asyncio.get_running_loop()
        self._timers[docker_id] = loop.call_later(
            max(0.0, due - time.time()), self._fire, docker_id
        )

    def _fire(self, docker_id: str) -> None:
        timer = self._timers.pop(docker_id, None)
        if timer is not None:
            timer.cancel()
        task = asyncio.ensure_future(self._run(docker_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, docker_id: str) -> None:
        try:
            await self._remove(docker_id)
        except Exception as error:  # kept in the schedule: the next start tries again
            log.warning("Could not remove container %s: %s", docker_id[:12], error)
            return
        self._due.pop(docker_id, None)
        self._save()

    def _save(self) -> None:
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._due))
        os.replace(temporary, self._path)
