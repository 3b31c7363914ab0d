"""One owner for the agent's background work, so that stopping the agent stops all of it.

Task runners, health checks, completion timers and executor watchers are
started here rather than with a bare ``asyncio.create_task`` or ``call_later``.
Unlike ``asyncio.TaskGroup``, one failing task does not cancel its siblings (a
plugin bug in one task must not end the others): its exception is logged.
:meth:`close` cancels every task and timer and waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_SECONDS = 0.1
"""How long closing waits for cancelled tasks before cancelling them again."""


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._closed = False

    def spawn(
        self, coroutine: Coroutine[Any, Any, Any], name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run ``coroutine`` until it ends or the owner closes."""
        if self._closed:
            coroutine.close()
            raise RuntimeError("the agent is stopping; no new background work")
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def later(
        self, delay: float, start: Callable[[], Coroutine[Any, Any, Any]]
    ) -> asyncio.TimerHandle:
        """Spawn ``start()`` after ``delay`` seconds, unless cancelled or closed first."""

        def fire() -> None:
            self._timers.discard(timer)
            if not self._closed:
                self.spawn(start())

        timer = asyncio.get_running_loop().call_later(max(0.0, delay), fire)
        self._timers.add(timer)
        return timer

    def cancel_timer(self, timer: asyncio.TimerHandle) -> None:
        timer.cancel()
        self._timers.discard(timer)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        """Cancel every timer and task, and wait until all of them have ended.

        A task is cancelled again until it ends: one cancellation is not always
        enough, as Python 3.11's ``asyncio.wait_for`` swallows one that arrives just
        as the awaited call completes, and a loop around it goes on.
        """
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        while self._tasks:
            running = list(self._tasks)
            for task in running:
                task.cancel()
            await asyncio.wait(running, timeout=RECANCEL_SECONDS)
