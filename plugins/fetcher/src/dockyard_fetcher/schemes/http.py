"""``http://`` and ``https://`` through one aiohttp session per fetcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.schemes import Download, SourceRequest

READ_BUFFER = 4 << 20


class HttpDownloads:
    """Any 2xx is success; redirects are followed; proxies come from ``http_proxy`` & co.

    Bodies are saved as sent (no ``Accept-Encoding``, no decompression), like curl.
    """

    schemes = ("http", "https")

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                trust_env=True,
                auto_decompress=False,
                read_bufsize=READ_BUFFER,
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"Accept-Encoding": "identity"},
            )
        return self._session

    @asynccontextmanager
    async def open(self, request: SourceRequest) -> AsyncIterator[Download]:
        url = request.location.target
        try:
            async with self._client().get(url) as response:
                if not 200 <= response.status < 300:
                    raise FetchError(
                        f"HTTP status {response.status} ({response.reason}) from {response.url}"
                    )
                yield Download(size=response.content_length, chunks=_body(response))
        except aiohttp.ClientError as error:
            raise FetchError(f"HTTP request failed: {error or type(error).__name__}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _body(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    while chunk := await response.content.readany():
        yield chunk
