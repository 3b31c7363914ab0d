"""Turning a handler's :class:`Download` into a complete file, or into no file at all.

Bytes go to a hidden temporary file beside the destination, which is renamed into place
only when the download is complete: a failed, stalled or cancelled download leaves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

from dockyard.units import format_duration

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.progress import ProgressHub
from dockyard_fetcher.schemes import Download, SchemeHandler, SourceRequest

BATCH = 4 << 20
"""Bytes gathered before one threaded write (see :class:`_Writer`)."""
SLOW_WRITE = 0.01
"""Seconds: a write on the event loop that took longer moves the download's writes to a thread."""
_IOV_MAX = 1024


def temporary_path(destination: Path) -> Path:
    """A hidden sibling of ``destination`` that no other fetch uses."""
    return destination.with_name(f".{destination.name}.part-{secrets.token_hex(4)}")


async def download_to(
    handler: SchemeHandler,
    request: SourceRequest,
    destination: Path,
    *,
    stall_timeout: timedelta,
    progress: ProgressHub,
    admit: Callable[[int | None], bool] | None = None,
    durable: bool = False,
) -> int | None:
    """Download ``request`` to ``destination`` (replacing it); return the size.

    ``admit``, told the announced size before the body is read, may refuse the download
    (None is returned). ``durable`` syncs the data before the rename, for files that must
    survive a crash.
    """
    size = None
    async with AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(stall_timeout.total_seconds()):
                download = await stack.enter_async_context(handler.open(request))
        except TimeoutError:
            raise _stalled(stall_timeout) from None
        if admit is None or admit(download.size):
            size = await _save(
                download,
                destination,
                stall_timeout=stall_timeout,
                progress=progress,
                uri=request.location.uri,
                durable=durable,
            )
    return size


async def _save(
    download: Download,
    destination: Path,
    *,
    stall_timeout: timedelta,
    progress: ProgressHub,
    uri: str,
    durable: bool,
) -> int:
    temporary = temporary_path(destination)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o644)
    tracker = progress.tracker(uri, download.size)
    try:
        try:
            writer = _Writer(fd)
            try:
                async for chunk in _within(download.chunks, stall_timeout):
                    tracker.advance(len(chunk))
                    await writer.add(chunk)
            except BaseException:
                await writer.settle()  # the file closes next: let a write in flight end
                raise
            await writer.flush()
            if durable:
                await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)
        if download.size is not None and tracker.received != download.size:
            raise FetchError(f"download ended after {tracker.received} of {download.size} bytes")
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        tracker.finish()
    return tracker.received


class _Writer:
    """Writes received bytes, on the event loop while that is cheap, else in a thread.

    A write into the page cache takes microseconds, and handing every batch to a thread costs
    more than that on a busy host (measured: 0.7x curl's throughput with threads, 1.2x on the
    loop; see ``benchmarks/fetch_throughput.py``). Once a write is slow (the kernel throttles
    a slow disk), the rest of the download is written in batches by a thread, one batch in
    flight while the next is received, so the agent's event loop is not held up.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._threaded = False
        self._batch: list[bytes] = []
        self._size = 0
        self._writing: asyncio.Task[None] | None = None

    async def add(self, chunk: bytes) -> None:
        if not self._threaded:
            started = time.monotonic()
            _write_all(self._fd, [chunk])
            self._threaded = time.monotonic() - started > SLOW_WRITE
            return
        self._batch.append(chunk)
        self._size += len(chunk)
        if self._size >= BATCH:
            await self._wait()
            batch, self._batch, self._size = self._batch, [], 0
            self._writing = asyncio.create_task(asyncio.to_thread(_write_all, self._fd, batch))

    async def flush(self) -> None:
        """Write everything received."""
        await self._wait()
        batch, self._batch, self._size = self._batch, [], 0
        if batch:
            await asyncio.to_thread(_write_all, self._fd, batch)

    async def settle(self) -> None:
        """Wait for the write in flight, if any, ignoring its outcome (the download failed)."""
        with contextlib.suppress(Exception):
            await self._wait()

    async def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            await asyncio.shield(writing)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write ``chunks`` with as few system calls as possible (one ``writev`` per batch), so
    the writing thread gives the GIL back to the event loop rarely."""
    views = [memoryview(chunk) for chunk in chunks]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


async def _within(chunks: AsyncIterator[bytes], stall_timeout: timedelta) -> AsyncIterator[bytes]:
    """``chunks``, failing if one takes longer than ``stall_timeout`` to arrive."""
    while True:
        try:
            async with asyncio.timeout(stall_timeout.total_seconds()):
                chunk = await anext(chunks, None)
        except TimeoutError:
            raise _stalled(stall_timeout) from None
        if chunk is None:
            return
        yield chunk


def _stalled(stall_timeout: timedelta) -> FetchError:
    return FetchError(
        f"download stalled: no data for {format_duration(stall_timeout)} (--fetcher_stall_timeout)"
    )
