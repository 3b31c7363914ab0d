"""Container loggers that each break one behaviour of the logger conformance suite."""

from __future__ import annotations

import itertools
import socket
import tempfile
from pathlib import Path

from dockyard import hookimpl
from dockyard.containers import (
    ContainerConfig,
    ContainerOutput,
    FileOutput,
    Rotation,
    UnixSocketOutput,
)


class StderrIntoStdout:
    """Both streams into one file: stdout and stderr are no longer apart."""

    @hookimpl
    def container_output(self, config: ContainerConfig) -> ContainerOutput:
        both = FileOutput(path=config.sandbox / "stdout")
        return ContainerOutput(stdout=both, stderr=both)


class KeepsOneRotatedFile:
    """Rotates at 64 KB but keeps a single rotated file: a burst loses its beginning."""

    @hookimpl
    def container_output(self, config: ContainerConfig) -> ContainerOutput:
        rotation = Rotation(max_size=64 << 10, max_files=1)
        return ContainerOutput(
            stdout=FileOutput(path=config.sandbox / "stdout", rotation=rotation),
            stderr=FileOutput(path=config.sandbox / "stderr", rotation=rotation),
        )


class OutsideTheSandbox:
    """Files beside the sandbox (in the work dir, which the test removes), not in it."""

    @hookimpl
    def container_output(self, config: ContainerConfig) -> ContainerOutput:
        name = config.container_id.value
        return ContainerOutput(
            stdout=FileOutput(path=config.sandbox.parent / f"{name}.out"),
            stderr=FileOutput(path=config.sandbox.parent / f"{name}.err"),
        )


class MovesItsFiles:
    """A new file name each time it is asked: a recovered container's output moves."""

    def __init__(self) -> None:
        self.counter = itertools.count()

    @hookimpl
    def container_output(self, config: ContainerConfig) -> ContainerOutput:
        n = next(self.counter)
        return ContainerOutput(
            stdout=FileOutput(path=config.sandbox / f"stdout.{n}"),
            stderr=FileOutput(path=config.sandbox / f"stderr.{n}"),
        )


class SocketWithoutReader:
    """Sends output to a socket, and its suite does not say how to read it back."""

    def __init__(self) -> None:
        # A short path (sun_path holds 108 bytes), removed when the logger is collected.
        self.directory = tempfile.TemporaryDirectory(prefix="dockyard-logger-")
        self.path = Path(self.directory.name) / "log.sock"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.bind(str(self.path))
        self.socket.listen(64)  # connections wait in the backlog; the output fits its buffers

    @hookimpl
    def container_output(self, config: ContainerConfig) -> ContainerOutput:
        return ContainerOutput(
            stdout=UnixSocketOutput(path=self.path), stderr=UnixSocketOutput(path=self.path)
        )
