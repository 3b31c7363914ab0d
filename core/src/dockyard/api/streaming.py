"""Serving a queue of RecordIO records as a long-lived HTTP response, with heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web


async def stream_records(
    request: web.Request,
    queue: asyncio.Queue[bytes | None],
    *,
    heartbeat: bytes,
    interval: float,
    first: bytes | None = None,
    finished: Callable[[], bool] = lambda: False,
) -> web.StreamResponse:
    """Write ``first``, then every record of ``queue`` until None or ``finished()``.

    ``heartbeat`` is written whenever nothing else was for ``interval`` seconds. A
    client that goes away simply ends the stream.
    """
    response = web.StreamResponse(headers={"Content-Type": "application/recordio"})
    try:
        await response.prepare(request)
        if first is not None:
            await response.write(first)
        while not (finished() and queue.empty()):
            try:  # not asyncio.wait_for, which can swallow a cancellation on 3.11
                async with asyncio.timeout(interval):
                    record = await queue.get()
            except TimeoutError:
                record = heartbeat
            if record is None:
                break
            await response.write(record)
    except ConnectionResetError:
        pass  # the client went away
    return response
