"""The Engine API over aiohttp, on the agent's event loop, for the calls that stream.

Log follows and image pulls stay open for as long as a container runs or a layer downloads.
As coroutines they cost no thread each, and closing one is how the Engine is told to stop:
it cancels a pull whose client went away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

STREAM_TYPES = {1: "stdout", 2: "stderr"}
"""The first byte of a multiplexed frame header (``docker attach``/``logs`` format)."""
HEADER_SIZE = 8
"""Stream type, three zero bytes, and the payload's size (big-endian)."""


class EngineError(Exception):
    """The Engine answered an error status; the message is its ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EngineStreams:
    """An aiohttp session on the Engine's socket, speaking the negotiated API version."""

    def __init__(self, socket: str, api_version: str) -> None:
        url = socket if "://" in socket else f"unix://{socket}"
        scheme, _, rest = url.partition("://")
        connector: aiohttp.BaseConnector
        if scheme == "unix":
            connector = aiohttp.UnixConnector(path=rest, limit=0)
            self._base = f"http://docker/v{api_version}"
        else:  # tcp://host:port, as engine.connect accepts it
            connector = aiohttp.TCPConnector(limit=0)
            self._base = f"http://{rest.rstrip('/')}/v{api_version}"
        # No timeout: a follow lasts as long as its container; pulls are cancelled, not timed.
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        )

    @asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A response whose status is a success; leaving the block early closes the
        connection (never back to the pool half read), which ends the Engine's work."""
        async with self._session.request(
            method, self._base + path, params=params, headers=headers
        ) as response:
            if response.status >= 400:
                raise EngineError(response.status, await error_message(response))
            try:
                yield response
            except BaseException:
                response.close()
                raise

    async def json(self, path: str) -> Any:
        """``GET path`` → its JSON; None for a 404."""
        try:
            async with self.open("GET", path, {}) as response:
                return await response.json()
        except EngineError as error:
            if error.status == 404:
                return None
            raise

    async def close(self) -> None:
        await self._session.close()


async def error_message(response: aiohttp.ClientResponse) -> str:
    text = await response.text()
    try:
        return str(json.loads(text)["message"])
    except (ValueError, KeyError, TypeError):
        return text.strip() or response.reason or str(response.status)


async def frames(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, bytes]]:
    """(stream name, payload) of each frame of a multiplexed (non-TTY) output stream.

    Frames are cut from whatever chunk arrived rather than read one header at a time:
    a chatty container sends many small frames per chunk.
    """
    buffer = bytearray()
    async for chunk in response.content.iter_any():
        buffer += chunk
        start = 0
        while len(buffer) - start >= HEADER_SIZE:
            end = start + HEADER_SIZE + int.from_bytes(buffer[start + 4 : start + 8], "big")
            if end > len(buffer):
                break
            stream = STREAM_TYPES.get(buffer[start], "stdout")
            yield stream, bytes(buffer[start + HEADER_SIZE : end])
            start = end
        del buffer[:start]
    if buffer:  # cut inside a frame: not a clean end
        raise asyncio.IncompleteReadError(bytes(buffer), None)


async def json_lines(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The JSON messages of a progress stream (pull, push), one per line."""
    async for line in response.content:
        if line.strip():
            yield json.loads(line)
