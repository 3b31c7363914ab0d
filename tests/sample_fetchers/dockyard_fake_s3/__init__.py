"""``s3``: the scheme handler of docs/fetcher.md ("Adding a scheme"), with a local folder
(``$DOCKYARD_FAKE_S3_ROOT/<bucket>/<key>``) standing in for S3, so that the documented
conformance example can run without a network."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from dockyard_fetcher import Download, FetchError, SourceRequest


class S3Objects:
    schemes = ("s3",)

    @asynccontextmanager
    async def open(self, request: SourceRequest) -> AsyncIterator[Download]:
        parts = urlsplit(request.location.target)
        path = Path(os.environ.get("DOCKYARD_FAKE_S3_ROOT", "/nonexistent"), parts.netloc)
        path = path / parts.path.lstrip("/")
        try:
            content = path.read_bytes()
        except OSError:
            raise FetchError(f"NoSuchKey: {request.location.target}") from None

        async def chunks() -> AsyncIterator[bytes]:
            yield content

        yield Download(size=len(content), chunks=chunks())

    async def close(self) -> None:
        """Nothing to release."""
