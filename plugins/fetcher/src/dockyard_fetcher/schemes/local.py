"""Local paths and ``file://`` URIs, read with the task user's permissions when asked."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import BinaryIO

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.identity import Identity
from dockyard_fetcher.schemes import Download, SourceRequest
from dockyard_fetcher.uris import LOCAL

CHUNK = 1 << 20


class LocalFiles:
    """Copies local files. As another user, a ``cat`` running as that user reads the file,
    so a file the user cannot read cannot be fetched (Mesos's mesos-fetcher runs as the user)."""

    schemes = (LOCAL,)

    @asynccontextmanager
    async def open(self, request: SourceRequest) -> AsyncIterator[Download]:
        path = request.location.target
        if request.identity is None:
            async with _open_as_agent(path) as download:
                yield download
        else:
            async with _open_as_user(path, request.identity) as download:
                yield download

    async def close(self) -> None:
        """Nothing shared to release."""


@asynccontextmanager
async def _open_as_agent(path: str) -> AsyncIterator[Download]:
    try:
        file = await asyncio.to_thread(_open_regular, path)
    except OSError as error:
        raise FetchError(_reason(error, path)) from None
    try:
        yield Download(size=os.fstat(file.fileno()).st_size, chunks=_read(file))
    finally:
        file.close()


def _open_regular(path: str) -> BinaryIO:
    """Open a regular file; a FIFO or a device would block or never end."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "Not a regular file", path)
    return open(path, "rb")  # closed by the caller


async def _read(file: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, CHUNK):
        yield chunk


@asynccontextmanager
async def _open_as_user(path: str, identity: Identity) -> AsyncIterator[Download]:
    process = await asyncio.create_subprocess_exec(
        "cat",
        "--",
        path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        user=identity.uid,
        group=identity.gid,
        extra_groups=list(identity.groups),
        limit=CHUNK,
    )
    try:
        size = await asyncio.to_thread(_size, path)
        yield Download(size=size, chunks=_read_process(process, path))
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _read_process(process: asyncio.subprocess.Process, path: str) -> AsyncIterator[bytes]:
    assert process.stdout is not None
    assert process.stderr is not None
    while chunk := await process.stdout.read(CHUNK):
        yield chunk
    errors = (await process.stderr.read()).decode(errors="replace").strip()
    if await process.wait() != 0:
        # cat says "cat: <path>: Permission denied"; keep only the reason.
        raise FetchError(errors.rpartition(": ")[2] + f": '{path}'" if errors else "copy failed")


def _size(path: str) -> int | None:
    """The size the agent sees (the user's own read may still be refused)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _reason(error: OSError, path: str) -> str:
    return f"{error.strerror or error}: '{path}'"
