"""Putting a local file (a cache entry) at a sandbox path as cheaply as the file system allows.

Order: a reflink (copy-on-write clone: instant and independent), then a hard link when the
caller allows one (instant, but shares the inode: the cache keeps its files read-only), then
a plain copy. Always through a temporary name and a rename, so nothing half-written remains.
"""

from __future__ import annotations

import enum
import fcntl
import os
import shutil
from pathlib import Path

from dockyard_fetcher.transfer import temporary_path

FICLONE = 0x40049409
"""``ioctl`` request of Linux's ``linux/fs.h``: clone a whole file (btrfs, XFS, bcachefs...)."""


class Method(enum.Enum):
    REFLINK = "reflink"
    HARD_LINK = "hard link"
    COPY = "copy"


def place(source: Path, destination: Path, *, allow_hard_link: bool) -> Method:
    """Make ``destination`` hold ``source``'s bytes; return how. Blocking: use a thread."""
    temporary = temporary_path(destination)
    try:
        method = _clone_or_copy(source, temporary, allow_hard_link=allow_hard_link)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return method


def _clone_or_copy(source: Path, temporary: Path, *, allow_hard_link: bool) -> Method:
    if _reflink(source, temporary):
        return Method.REFLINK
    if allow_hard_link:
        try:
            os.link(source, temporary)
            return Method.HARD_LINK
        except OSError:  # another file system, or links not allowed here
            pass
    shutil.copyfile(source, temporary)
    return Method.COPY


def _reflink(source: Path, temporary: Path) -> bool:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with source.open("rb") as reader:
        writer = os.open(temporary, flags, 0o644)
        try:
            fcntl.ioctl(writer, FICLONE, reader.fileno())
            return True
        except OSError:  # EOPNOTSUPP, EXDEV, EINVAL: this file system cannot clone
            os.unlink(temporary)
            return False
        finally:
            os.close(writer)
