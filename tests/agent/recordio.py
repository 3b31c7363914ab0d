"""Reading the SUBSCRIBE stream as a client would."""

from __future__ import annotations

import json
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
