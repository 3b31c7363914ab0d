"""A task's stdout and stderr as the supervisor hands them to it (see ``OutputSpec``).

A plain file is opened for appending and given to the task, which writes it itself: its
output costs the supervisor nothing. A rotated file is fed through a pipe that the
supervisor splices into a :class:`~dockyard.logfiles.RotatingFile` whenever the event
loop finds it readable: one process rotates every task's output, and the bytes never
enter Python (Mesos runs two ``mesos-logrotate-logger`` processes per container). A
unix socket is connected and greeted once, then given to the task.

The supervisor keeps its own end of a task's pipe or socket while the task runs, for
the commands run inside it (their output goes to the task's stderr); when the task ends
it lets go of it and drains the pipe, so the task's last output is on disk before its
exit is reported. A pipe is read until its last writer closes it, so a task's escaped
descendants keep logging. Rotation never stops the task: output that cannot be written
(a full disk) is read and dropped, and writing resumes once it can.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from dockyard.beneath import Owner, open_root
from dockyard.logfiles import RotatingFile, Rotation, open_log_file
from dockyard.supervision.protocol import OutputSpec, SpawnSpec
from dockyard.supervision.spawn import SpawnError

PIPE_SIZE = 1 << 20
"""Room for a burst while the supervisor is busy elsewhere (the kernel may give less)."""
CHUNK = 1 << 20
READ_BUDGET = 8 << 20
"""Bytes moved per wake-up, so that one chatty task cannot starve the others."""
DRAIN_BUDGET = 64 << 20
"""Bytes drained when a task ends: what it left in the pipe, not what escapees add."""
CONNECT_TIMEOUT_SECONDS = 2.0

log = logging.getLogger(__name__)


class _Directories:
    """The directories of one spawn's output files, each opened once (both files of a
    task are in its sandbox)."""

    def __init__(self) -> None:
        self._opened: dict[str, int] = {}

    def __enter__(self) -> _Directories:
        return self

    def __exit__(self, *_: object) -> None:
        for fd in self._opened.values():
            os.close(fd)

    def open_appending(self, path: str, owner: Owner | None) -> int:
        if path == os.devnull:
            return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        parent = os.path.dirname(path)  # the plugin's paths are normalised: str(Path)
        directory = self._opened.get(parent)
        if directory is None:
            directory = self._opened[parent] = open_root(Path(parent))
        return open_log_file(path, append=True, owner=owner, directory=directory)


class _Destination(Protocol):
    def fd(self, directories: _Directories) -> contextlib.AbstractContextManager[int]:
        """The descriptor a spawned process writes to, valid inside the block."""

    def task_ended(self) -> None: ...

    def close(self) -> None: ...


class _AppendedFile:
    def __init__(self, path: str, owner: Owner | None) -> None:
        self._path = path
        self._owner = owner

    @contextlib.contextmanager
    def fd(self, directories: _Directories) -> Iterator[int]:
        fd = directories.open_appending(self._path, self._owner)
        try:
            yield fd
        finally:
            os.close(fd)

    def task_ended(self) -> None:
        pass

    def close(self) -> None:
        pass


class _RotatedPipe:
    def __init__(self, spec: OutputSpec, owner: Owner | None) -> None:
        assert spec.max_size is not None
        rotation = Rotation(max_size=spec.max_size, max_files=spec.max_files)
        self._file = RotatingFile(Path(spec.path), rotation, owner=owner)
        self._file.open()
        try:
            self._reader, writer = os.pipe2(os.O_CLOEXEC)
        except OSError:
            self._file.close()
            raise
        self._writer: int | None = writer
        os.set_blocking(self._reader, False)  # the task's end stays blocking
        with contextlib.suppress(OSError):  # over the user's pipe quota: the default size
            fcntl.fcntl(self._reader, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._failure: str | None = None
        self._dropped = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._reader, self._move, READ_BUDGET)
        self._open = True

    @contextlib.contextmanager
    def fd(self, directories: _Directories) -> Iterator[int]:
        if self._writer is None:
            raise OSError(f"the output to {self._file.path} is closed")
        yield self._writer

    def task_ended(self) -> None:
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None
        self._move(DRAIN_BUDGET)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._loop.remove_reader(self._reader)
        os.close(self._reader)
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None
        self._file.close()

    def _move(self, budget: int) -> None:
        moved = 0
        while self._open and moved < budget:
            try:
                count = self._splice()
            except BlockingIOError:
                return
            if count == 0:  # every writer is gone
                self.close()
                return
            moved += count

    def _splice(self) -> int:
        try:
            count = self._file.splice(self._reader, CHUNK)
        except BlockingIOError:
            raise
        except OSError as error:
            data = os.read(self._reader, CHUNK)  # drop it rather than block the task
            self._dropping(error, len(data))
            return len(data)
        if self._failure is not None:
            log.warning("writing %s again; %d bytes were dropped", self._file.path, self._dropped)
            self._failure, self._dropped = None, 0
        return count

    def _dropping(self, error: OSError, count: int) -> None:
        if self._failure != error.strerror:
            self._failure = error.strerror
            log.error("cannot write %s (%s): dropping output", self._file.path, error.strerror)
        self._dropped += count


class _ConnectedSocket:
    def __init__(self, spec: OutputSpec) -> None:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(CONNECT_TIMEOUT_SECONDS)
            connection.connect(spec.path)
            connection.sendall(base64.b64decode(spec.preamble))
            connection.setblocking(True)  # the task must never see EAGAIN
        except OSError:
            connection.close()
            raise
        self._socket: int | None = connection.detach()

    @contextlib.contextmanager
    def fd(self, directories: _Directories) -> Iterator[int]:
        if self._socket is None:
            raise OSError("the output socket is closed")
        yield self._socket

    def task_ended(self) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            os.close(self._socket)
            self._socket = None


class TaskOutput:
    """A task's two destinations, open for as long as the supervisor tracks the task."""

    def __init__(self, stdout: _Destination, stderr: _Destination) -> None:
        self._stdout = stdout
        self._stderr = stderr

    @classmethod
    def open(cls, spec: SpawnSpec) -> TaskOutput:
        """Connect, or create the pipes of, ``spec``'s outputs; raises SpawnError."""
        owner = None if spec.uid is None else (spec.uid, -1 if spec.gid is None else spec.gid)
        opened: list[_Destination] = []
        try:
            for name, output in (("stdout", spec.stdout), ("stderr", spec.stderr)):
                try:
                    opened.append(_destination(output, owner))
                except OSError as error:
                    raise SpawnError(
                        f"Failed to open the task's {name} ({output.kind} '{output.path}'): "
                        f"{error.strerror or error}"
                    ) from error
        except SpawnError:
            for destination in opened:
                destination.close()
            raise
        return cls(*opened)

    @classmethod
    def appending(cls, spec: SpawnSpec) -> TaskOutput:
        """For a task adopted from an earlier supervisor: its files, written directly."""
        owner = None if spec.uid is None else (spec.uid, -1 if spec.gid is None else spec.gid)
        stdout, stderr = (
            _AppendedFile(output.path if output.kind == "file" else os.devnull, owner)
            for output in (spec.stdout, spec.stderr)
        )
        return cls(stdout, stderr)

    @contextlib.contextmanager
    def for_task(self) -> Iterator[tuple[int, int]]:
        """The task's stdout and stderr descriptors, valid inside the block."""
        with (
            _Directories() as directories,
            self._stdout.fd(directories) as out,
            self._stderr.fd(directories) as err,
        ):
            yield out, err

    @contextlib.contextmanager
    def for_command(self) -> Iterator[tuple[int, int]]:
        """A command run inside the task writes both streams to the task's stderr."""
        with _Directories() as directories, self._stderr.fd(directories) as err:
            yield err, err

    def task_ended(self) -> None:
        """The task is gone: drain what it left; escaped descendants may still write."""
        self._stdout.task_ended()
        self._stderr.task_ended()

    def close(self) -> None:
        self._stdout.close()
        self._stderr.close()


def _destination(output: OutputSpec, owner: Owner | None) -> _Destination:
    if output.kind == "socket":
        return _ConnectedSocket(output)
    if output.kind != "file":
        raise OSError(f"unknown output kind '{output.kind}'")
    if output.max_size is None:
        return _AppendedFile(output.path, owner)
    return _RotatedPipe(output, owner)
