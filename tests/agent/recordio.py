"""Reading the SUBSCRIBE stream as a client would."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

UNTIL_SECONDS = 120


async def next_event(response: aiohttp.ClientResponse) -> dict[str, Any]:
    header = await response.content.readline()
    if not header:
        raise EOFError("stream ended")
    body = await response.content.readexactly(int(header))
    event: dict[str, Any] = json.loads(body)
    return event


async def next_task_update(response: aiohttp.ClientResponse) -> dict[str, Any]:
    while True:
        event = await next_event(response)
        if event["type"] == "TASK_UPDATED":
            status: dict[str, Any] = event["task_updated"]["status"]
            return status


async def follow_until_state(
    session: aiohttp.ClientSession,
    url: str,
    current: Callable[[], Awaitable[dict[str, Any] | None]],
    states: tuple[str, ...],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The task (``current()``, read from the API) once its state is one of ``states``.

    The SUBSCRIBE stream is opened first, so no update between two reads can be missed.
    """
    subscribe = {"type": "SUBSCRIBE"}
    async with session.post(f"{url}/api/v1", json=subscribe, headers=headers) as stream:
        await next_event(stream)  # SUBSCRIBED: the state when the stream started
        while True:
            task = await current()
            if task is not None and task["state"] in states:
                return task
            await next_task_update(stream)


class Subscriber:
    """A SUBSCRIBE stream read in the background, keeping every task update in order.

    Waiting is on events: :meth:`until` resolves as soon as the reader sees what it
    waits for, and fails at once if the stream ends first.
    """

    def __init__(self, stream: aiohttp.ClientResponse, subscribed: dict[str, Any]) -> None:
        self.stream = stream
        self.subscribed = subscribed
        self.statuses: list[dict[str, Any]] = []
        """Every TASK_UPDATED status, in the order the agent sent them."""
        self._by_task: dict[str, list[dict[str, Any]]] = {}
        self.counts = Counter[str]()
        """TASK_UPDATED statuses seen, by state."""
        self.other_events: list[dict[str, Any]] = []
        """Events other than TASK_UPDATED and HEARTBEAT (e.g. a final ERROR)."""
        self.ended: BaseException | None = None
        self.reader: asyncio.Task[None] | None = None
        """Reads the stream until it ends; awaiting it waits for the end."""
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, session: aiohttp.ClientSession, url: str) -> AsyncIterator[Subscriber]:
        no_timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with session.post(
            f"{url}/api/v1", json={"type": "SUBSCRIBE"}, timeout=no_timeout
        ) as stream:
            subscriber = cls(stream, await next_event(stream))
            subscriber.reader = asyncio.create_task(subscriber._read())
            try:
                yield subscriber
            finally:
                subscriber.reader.cancel()
                await asyncio.gather(subscriber.reader, return_exceptions=True)

    def of(self, task_id: str) -> list[dict[str, Any]]:
        """The statuses of one task seen so far."""
        return self._by_task.get(task_id, [])

    def states(self, task_id: str) -> list[str]:
        return [s["state"] for s in self.of(task_id)]

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` holds after some update; raises if the stream ends first
        (or after ``UNTIL_SECONDS``, generous for a busy machine)."""
        if done():
            return
        if self.ended is not None:
            raise AssertionError(f"the SUBSCRIBE stream ended: {self.ended!r}")
        reached = asyncio.get_running_loop().create_future()
        self._waiters.append((done, reached))
        try:
            async with asyncio.timeout(UNTIL_SECONDS):
                await reached
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not reached]

    async def _read(self) -> None:
        try:
            while True:
                event = await next_event(self.stream)
                if event["type"] == "TASK_UPDATED":
                    status = event["task_updated"]["status"]
                    self.statuses.append(status)
                    self._by_task.setdefault(status["task_id"]["value"], []).append(status)
                    self.counts[status["state"]] += 1
                elif event["type"] != "HEARTBEAT":
                    self.other_events.append(event)
                for done, reached in self._waiters:
                    if not reached.done() and done():
                        reached.set_result(None)
        except (EOFError, aiohttp.ClientError, OSError, ValueError) as error:
            self.ended = error
            for _, reached in self._waiters:
                if not reached.done():
                    reached.set_exception(AssertionError(f"the SUBSCRIBE stream ended: {error!r}"))
