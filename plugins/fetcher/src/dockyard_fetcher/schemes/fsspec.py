"""Every other scheme fsspec knows (``s3://``, ``gs://``, ``hdfs://``, ``ftp://``, ``memory://``...).

Optional: needs ``dockyard-fetcher[fsspec]`` plus the scheme's own fsspec backend (``s3fs``,
``gcsfs``...). fsspec backends are mostly blocking, so they run in threads.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.schemes import ANY_SCHEME, Download, SourceRequest, unhandled

CHUNK = 1 << 20


class FsspecFiles:
    """Serves any scheme no other handler claims, if fsspec has a backend for it."""

    @property
    def schemes(self) -> tuple[str, ...]:
        """Every unclaimed scheme, when fsspec is installed (else none: a URI of an unknown
        scheme then fails in the core, naming what the fetchers take)."""
        return (ANY_SCHEME,) if importlib.util.find_spec("fsspec") is not None else ()

    def knows(self, scheme: str) -> bool:
        """Whether fsspec has (or could import) a backend for ``scheme``; no import here."""
        try:
            fsspec: Any = importlib.import_module("fsspec")
        except ModuleNotFoundError:
            return False
        return scheme in fsspec.available_protocols()

    @asynccontextmanager
    async def open(self, request: SourceRequest) -> AsyncIterator[Download]:
        uri = request.location.target
        scheme = request.location.scheme
        try:
            file, size = await asyncio.to_thread(_open, uri)
        except _Unsupported:
            raise FetchError(unhandled(scheme)) from None
        except ImportError as error:  # fsspec names the missing backend: "Install s3fs to ..."
            raise FetchError(str(error)) from None
        except FileNotFoundError:
            raise FetchError(f"No such file: {uri}") from None
        except Exception as error:  # backends raise their own exception types
            raise FetchError(f"{type(error).__name__}: {error}") from None
        try:
            yield Download(size=size, chunks=_read(file))
        finally:
            await asyncio.to_thread(file.close)

    async def close(self) -> None:
        """fsspec caches its file-system instances itself."""


class _Unsupported(Exception):
    pass


def _open(uri: str) -> tuple[Any, int | None]:
    try:
        fsspec: Any = importlib.import_module("fsspec")
        fs, path = fsspec.core.url_to_fs(uri)
    except ModuleNotFoundError as error:
        if error.name == "fsspec":
            raise _Unsupported from None
        raise
    except ValueError:  # "Protocol not known"
        raise _Unsupported from None
    if "file" in fs.protocol or "local" in fs.protocol:
        # Local paths go through the local handler, which honours the task user.
        raise _Unsupported
    # The whole URI where it is one URL: some backends need the protocol (data: does)
    target = path if "::" in uri else uri
    if fs.isdir(target):
        raise IsADirectoryError(f"not a file: {uri}")
    size = fs.size(target)
    return fs.open(target, "rb"), size


async def _read(file: Any) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, CHUNK):
        yield chunk
