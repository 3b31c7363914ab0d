"""Putting a local file (a cache entry, a download) at a name in a sandbox directory, as
cheaply as the file system allows, and without ever writing through what is there.

Order: a reflink (copy-on-write clone: instant and independent), then a hard link when the
caller allows one (instant, but shares the inode: the cache keeps its files read-only), then
a plain copy. Always through a new temporary name (created with ``O_EXCL|O_NOFOLLOW`` in the
directory's descriptor) whose mode and owner are set through its own descriptor, then a
rename over the name: a link or file the task left there is replaced, never followed, and
nothing half-written remains.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import os
import secrets
from pathlib import Path

from dockyard import beneath

from dockyard_fetcher.identity import Identity

FICLONE = 0x40049409
"""``ioctl`` request of Linux's ``linux/fs.h``: clone a whole file (btrfs, XFS, bcachefs...)."""
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Method(enum.Enum):
    REFLINK = "reflink"
    HARD_LINK = "hard link"
    COPY = "copy"


def place(
    source: Path,
    directory: int,
    name: str,
    *,
    allow_hard_link: bool,
    mode: int = 0o644,
    owner: Identity | None = None,
) -> Method:
    """Make ``name`` in the directory descriptor ``directory`` hold ``source``'s bytes, with
    ``mode`` for ``owner`` (a hard link keeps the cache file's); return how. Blocking."""
    temporary = f".{name}.part-{secrets.token_hex(4)}"
    try:
        method = _clone_or_copy(source, directory, temporary, allow_hard_link, mode, owner)
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=directory)
        raise
    return method


def move(
    source: Path, directory: int, name: str, *, mode: int = 0o644, owner: Identity | None = None
) -> None:
    """Move a private file (a finished download) to ``name`` in ``directory``: its mode and
    owner are set before it is there. A copy when the sandbox is another file system."""
    with beneath.closing(os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)) as fd:
        _hand_over(fd, mode, owner)
    try:
        os.replace(source, name, dst_dir_fd=directory)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        place(source, directory, name, allow_hard_link=False, mode=mode, owner=owner)
        source.unlink()


def _clone_or_copy(
    source: Path,
    directory: int,
    temporary: str,
    allow_hard_link: bool,
    mode: int,
    owner: Identity | None,
) -> Method:
    with open(source, "rb") as reader:
        with beneath.closing(os.open(temporary, _NEW_FILE, 0o600, dir_fd=directory)) as writer:
            cloned = _reflink(reader.fileno(), writer)
            if cloned or not allow_hard_link:
                if not cloned:
                    _copy(reader.fileno(), writer)
                _hand_over(writer, mode, owner)
                return Method.REFLINK if cloned else Method.COPY
        os.unlink(temporary, dir_fd=directory)
        try:
            os.link(source, temporary, dst_dir_fd=directory)
            return Method.HARD_LINK
        except OSError:  # another file system, or links not allowed here
            pass
        with beneath.closing(os.open(temporary, _NEW_FILE, 0o600, dir_fd=directory)) as writer:
            _copy(reader.fileno(), writer)
            _hand_over(writer, mode, owner)
    return Method.COPY


def _reflink(reader: int, writer: int) -> bool:
    try:
        fcntl.ioctl(writer, FICLONE, reader)
    except OSError:  # EOPNOTSUPP, EXDEV, EINVAL: this file system cannot clone
        return False
    return True


def _copy(reader: int, writer: int) -> None:
    while os.sendfile(writer, reader, None, 1 << 30):
        pass


def _hand_over(fd: int, mode: int, owner: Identity | None) -> None:
    os.fchmod(fd, mode)
    if owner is not None:
        os.fchown(fd, owner.uid, owner.gid)
