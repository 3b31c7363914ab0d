"""One piece of work shared by everyone who asks for the same key while it runs (the pull
of an image, the download of a layer): it is cancelled only when its last waiter leaves."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Running(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0


class Shared(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[Hashable, _Running[T]] = {}

    def running(self) -> list[Hashable]:
        return list(self._running)

    async def run(self, key: Hashable, start: Callable[[], Awaitable[T]]) -> T:
        """The result of the work for ``key``, calling ``start`` to begin it if none runs."""
        running = self._running.get(key)
        if running is None:
            running = _Running(asyncio.ensure_future(start()))
            self._running[key] = running
            running.task.add_done_callback(functools.partial(self._ended, key, running))
        running.waiters += 1
        try:
            return await asyncio.shield(running.task)
        finally:
            running.waiters -= 1
            if running.waiters == 0 and not running.task.done():
                self._running.pop(key, None)  # a later caller starts afresh
                running.task.cancel()
                await asyncio.gather(running.task, return_exceptions=True)  # cleaned up

    def _ended(self, key: Hashable, running: _Running[T], task: asyncio.Task[T]) -> None:
        if self._running.get(key) is running:
            del self._running[key]
        if not running.task.cancelled():
            running.task.exception()  # retrieved: every waiter may have gone

    async def cancel_all(self) -> None:
        tasks = [running.task for running in self._running.values()]
        self._running.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
