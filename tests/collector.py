"""A log collector on a unix stream socket, as journald or Vector would listen."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType


class LineCollector:
    """Accepts one connection and keeps everything it receives until the writer closes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LineCollector:
        self._server = await asyncio.start_unix_server(self._collect, path=self.path)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def received(self) -> bytes:
        """All the first connection sent, once it is closed."""
        async with asyncio.timeout(60):
            return await asyncio.shield(self._received)

    async def _collect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        if not self._received.done():
            self._received.set_result(data)
        writer.close()
