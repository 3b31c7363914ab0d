"""Log files cut at a size into ``<name>.1`` (newest) ... ``<name>.N``, as logrotate names them.

The containerizers write a :class:`~dockyard.containers.FileOutput` with rotation through
:class:`RotatingFile`: the native supervisor moves a task's pipe into it with ``splice(2)``
(the bytes never enter Python), and a streaming containerizer (docker) appends the frames
it reads. A :meth:`RotatingFile.checkpoint` (the current file's inode and size) lets a
restarted writer continue exactly at a saved position: :meth:`RotatingFile.open` cuts
back what was written after it, even when a rotation happened since.

That works because the writer saves its position before every rotation
(``before_rotate``): the latest saved position then names either the current file or
the one the latest rotation replaced, and the current file was created while that one
still existed, so an inode number can never be mistaken for a reused one.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import beneath
from dockyard.beneath import Owner
from dockyard.ownership import hand_over

SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
FILE_MODE = 0o644

BeforeRotate = Callable[[int], None]
"""Called with how many bytes of the data being written are already in the full file;
it may raise (nothing is rotated then)."""


@dataclass(frozen=True, kw_only=True)
class Rotation:
    """Cut a log file into ``<name>.1`` (newest) ... ``<name>.<max_files>`` at ``max_size``
    bytes (also :class:`dockyard.containers.Rotation`). No file exceeds ``max_size``;
    with ``max_files`` 0 a full file is dropped."""

    max_size: int
    max_files: int


def open_log_file(
    path: Path | str,
    *,
    append: bool = False,
    truncate: bool = False,
    owner: Owner | None = None,
    directory: int | None = None,
) -> int:
    """Open (or create) a log file in a directory a container can write to, and give it
    to ``owner`` (the task's user writes its own output). ``directory``: ``path.parent``
    already open (:func:`beneath.open_root`), for a caller opening several files there.

    The agent and the supervisor run as root there, so it is opened with
    :mod:`dockyard.beneath`: a symbolic link, FIFO, device or hard-linked file put in its
    place is ``Refused``, never written through nor given away.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0)
    flags |= os.O_TRUNC if truncate else 0
    parent, name = os.path.split(path)  # a str is cheaper than a Path, and is one here
    if directory is None:
        with beneath.closing(beneath.open_root(Path(parent or "."))) as opened:
            fd = beneath.open_regular(opened, name, flags, FILE_MODE)
    else:
        fd = beneath.open_regular(directory, name, flags, FILE_MODE)
    if owner is not None:
        try:
            hand_over(fd, *owner)  # a new file is most often the owner's already
        except BaseException:
            os.close(fd)
            raise
    return fd


def rotated(path: Path, number: int) -> Path:
    """``stdout`` → ``stdout.1`` (the newest rotated file), ``stdout.2``..."""
    return path.with_name(f"{path.name}.{number}")


class RotatingFile:
    """One output stream's files: ``path`` and, with ``rotation``, its rotated copies."""

    def __init__(
        self,
        path: Path,
        rotation: Rotation | None,
        *,
        owner: Owner | None = None,
        before_rotate: BeforeRotate | None = None,
    ) -> None:
        self.path = path
        self.rotation = rotation
        self._owner = owner
        self._before_rotate = before_rotate
        self._fd: int | None = None
        self._inode = 0
        self._size = 0
        self._can_splice = True

    @property
    def size(self) -> int:
        """Bytes in the current file."""
        return self._size

    def open(self, resume: Mapping[str, Any] | None = None) -> None:
        """Open the current file to append to; with ``resume`` (a :meth:`checkpoint`),
        drop whatever was written after it."""
        if resume is None:
            self._open(truncate=False)
            return
        inode = resume.get("inode")
        try:
            same = inode is None or os.lstat(self.path).st_ino == inode
        except FileNotFoundError:
            same = False
        self._open(truncate=not same)  # rotated since: the file holds only later output
        if same and self._size > resume["size"]:
            os.ftruncate(self._fd_or_fail(), resume["size"])
            self._size = resume["size"]

    def checkpoint(self) -> dict[str, int]:
        return {"inode": self._inode, "size": self._size}

    def write(self, data: bytes) -> None:
        """Append ``data``; a file that cannot take it whole is rotated first, and data
        larger than a whole file is split."""
        view = memoryview(data)
        rotation = self.rotation
        if rotation is not None:
            if self._size and self._size + len(view) > rotation.max_size:
                self._rotate(0)
            written = 0
            while len(view) - written > rotation.max_size - self._size:
                piece = rotation.max_size - self._size
                self._append(view[written : written + piece])
                written += piece
                self._rotate(written)
            view = view[written:]
        self._append(view)

    def splice(self, pipe: int, limit: int) -> int:
        """Move up to ``limit`` bytes from a non-blocking pipe, cutting files at exactly
        the rotation size. Returns 0 at the pipe's end; raises BlockingIOError when empty."""
        rotation = self.rotation
        if rotation is not None:
            if self._size >= rotation.max_size:
                self._rotate(0)
            limit = min(limit, rotation.max_size - self._size)
        fd = self._fd_or_fail()
        if self._can_splice:
            try:
                moved = os.splice(pipe, fd, limit, offset_dst=self._size, flags=SPLICE_FLAGS)
            except OSError as error:
                if error.errno != errno.EINVAL:  # EINVAL: this file system cannot splice
                    raise
                self._can_splice = False
            else:
                self._size += moved
                return moved
        data = os.read(pipe, limit)
        self._append(memoryview(data))
        return len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _fd_or_fail(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is not open")
        return self._fd

    def _append(self, data: memoryview) -> None:
        fd = self._fd_or_fail()
        while data:
            written = os.pwrite(fd, data, self._size)
            self._size += written
            data = data[written:]

    def _open(self, *, truncate: bool, path: Path | None = None) -> None:
        self.close()
        fd = open_log_file(path or self.path, truncate=truncate, owner=self._owner)
        info = os.fstat(fd)
        self._fd, self._inode, self._size = fd, info.st_ino, info.st_size

    def _rotate(self, written: int) -> None:
        """Shift the rotated files up by one (deleting those beyond ``max_files``) and
        start an empty current file. Every step leaves a state that the next rotation
        completes: the rotated files are first renumbered 1, 2... in order, which closes
        the gap a crash between two renames leaves."""
        assert self.rotation is not None
        if self._before_rotate is not None:
            self._before_rotate(written)
        keep = self.rotation.max_files
        if keep == 0:  # the new file exists before the old one goes: a fresh inode
            fresh = self.path.with_name(f".{self.path.name}.new")
            self._open(truncate=True, path=fresh)
            os.replace(fresh, self.path)
            return
        numbers = self._rotated_numbers()
        for position, number in enumerate(numbers, 1):
            if number != position:
                os.replace(rotated(self.path, number), rotated(self.path, position))
        for number in range(len(numbers), 0, -1):
            if number >= keep:
                rotated(self.path, number).unlink()
            else:
                os.replace(rotated(self.path, number), rotated(self.path, number + 1))
        os.replace(self.path, rotated(self.path, 1))
        self._open(truncate=True)

    def _rotated_numbers(self) -> list[int]:
        """The N of each ``<name>.N`` beside the file, in increasing order."""
        prefix = f"{self.path.name}."
        numbers = []
        with os.scandir(self.path.parent) as entries:
            for entry in entries:
                suffix = entry.name.removeprefix(prefix)
                if (
                    suffix != entry.name
                    and suffix.isascii()
                    and suffix.isdigit()
                    and not suffix.startswith("0")
                ):
                    numbers.append(int(suffix))
        return sorted(numbers)
