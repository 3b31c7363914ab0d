"""Reading the SUBSCRIBE stream as a client would."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp


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
