"""Where the log follower writes a container's output: a container logger's destinations.

A :class:`~dockyard.containers.FileOutput` is a :class:`~dockyard.logfiles.RotatingFile`,
which can be cut back to a checkpoint, so a restarted follower writes each frame once.
A :class:`~dockyard.containers.UnixSocketOutput` is a connection greeted with its
preamble; what was sent cannot be taken back, so after an agent crash the frames since
the last saved cursor (at most a save interval's worth) are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from dockyard.beneath import Owner
from dockyard.containers import FileOutput, StreamOutput, UnixSocketOutput
from dockyard.logfiles import BeforeRotate, RotatingFile


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...

    def checkpoint(self) -> dict[str, Any]:
        """What to give :func:`open_sink` to resume right after the data written so far."""

    async def close(self) -> None: ...


class FileSink:
    def __init__(self, file: RotatingFile) -> None:
        self._file = file

    async def write(self, data: bytes) -> None:
        self._file.write(data)

    def checkpoint(self) -> dict[str, Any]:
        return self._file.checkpoint()

    async def close(self) -> None:
        self._file.close()


class SocketSink:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()  # a slow reader slows the follower, never the container

    def checkpoint(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):  # already broken: nothing left to flush
            await self._writer.wait_closed()


async def open_sink(
    output: StreamOutput,
    resume: Mapping[str, Any] | None,
    before_rotate: BeforeRotate,
    owner: Owner | None = None,
) -> Sink:
    """Open ``output``; ``resume`` is a checkpoint of an earlier sink for the same stream,
    and ``owner`` who the files belong to."""
    if isinstance(output, FileOutput):
        file = RotatingFile(output.path, output.rotation, owner=owner, before_rotate=before_rotate)
        file.open(resume)
        return FileSink(file)
    assert isinstance(output, UnixSocketOutput)
    _, writer = await asyncio.open_unix_connection(output.path)
    sink = SocketSink(writer)
    try:
        await sink.write(output.preamble)
    except OSError:
        await sink.close()
        raise
    return sink
