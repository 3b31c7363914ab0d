"""A layer tarball unpacked into its own directory, in the form overlayfs reads directly
(containerd's and Docker's overlay2 form), for a copy backend to apply just as well:

- ``.wh.NAME`` (NAME deleted by this layer) becomes a character device 0/0 named NAME;
- ``.wh..wh..opq`` (the directory's lower contents hidden) becomes the extended attribute
  ``trusted.overlay.opaque=y`` on that directory.

The tarball is hostile until proven otherwise: a member named absolutely or with ``..``,
written through a symbolic link, or hard-linked to something outside the layer fails the
layer with :class:`HostileLayer`; device nodes are not created (the container gets its own
``/dev``). Symbolic links are stored as written, absolute ones included: they are resolved
inside the container's root, and nothing here ever follows one. Every path is opened from
the layer directory's descriptor without following links (:mod:`dockyard.beneath`).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import tarfile
import threading
from pathlib import Path
from typing import IO

from dockyard import beneath

from dockyard_mesos.images.errors import HostileLayer, ImageError, StoreFull

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
KEPT_XATTRS = ("security.capability",)
"""Extended attributes of a member that are applied (file capabilities, e.g. ping's)."""
MIN_FREE_BYTES = 64 << 20
MIN_FREE_INODES = 1024
CHECK_EVERY = 32 << 20
"""Bytes written between two looks at the free space of the store's file system."""
COPY_BUFFER = 1 << 20


class Cancelled(Exception):
    """The unpacking was stopped from outside (its pull was cancelled)."""


def extract_layer(
    blob: Path, gzipped: bool, destination: Path, name: str, stop: threading.Event
) -> None:
    """Unpack ``blob`` into the new directory ``destination``; ``name`` (the image and the
    layer) goes into every error. Setting ``stop`` ends it early with :class:`Cancelled`."""
    destination.mkdir()
    destination.chmod(0o755)
    root = os.open(destination, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    budget = _SpaceCheck(destination, name)
    directories: list[tuple[str, tarfile.TarInfo]] = []
    try:
        with tarfile.open(blob, mode="r|gz" if gzipped else "r|") as archive:
            for member in archive:
                if stop.is_set():
                    raise Cancelled(name)
                _extract_member(archive, member, root, name, budget, directories)
        for path, member in reversed(directories):  # children first changed their times
            _set_directory_times(root, path, member)
    except tarfile.TarError as error:
        raise ImageError(f"{name}: the layer is not a valid tar archive ({error})") from None
    except (EOFError, OSError) as error:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(f"{name}: the image store's file system is full") from None
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"{name}: unpacking the layer failed: {error}") from None
    finally:
        os.close(root)


class _SpaceCheck:
    """Fails the unpacking before it fills the store's file system (a gzip bomb, a layer
    bigger than the disk)."""

    def __init__(self, directory: Path, name: str) -> None:
        self._directory = directory
        self._name = name
        self._since = 0
        self.check()

    def wrote(self, size: int) -> None:
        self._since += size
        if self._since >= CHECK_EVERY:
            self._since = 0
            self.check()

    def check(self) -> None:
        status = os.statvfs(self._directory)
        free = status.f_bavail * status.f_frsize
        if free < MIN_FREE_BYTES or (status.f_files and status.f_favail < MIN_FREE_INODES):
            raise StoreFull(
                f"{self._name}: the image store's file system is nearly full "
                f"({free >> 20} MiB, {status.f_favail} inodes free)"
            )


def _member_parts(name: str, member: str, what: str = "member") -> tuple[str, ...]:
    if member.startswith("/"):
        raise HostileLayer(f"{name}: layer {what} '{member}' is an absolute path")
    if "\0" in member:
        raise HostileLayer(f"{name}: layer {what} '{member!r}' contains a NUL byte")
    parts = tuple(part for part in member.split("/") if part not in ("", "."))
    if ".." in parts:
        raise HostileLayer(f"{name}: layer {what} '{member}' goes up with '..'")
    return parts


def _extract_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    root: int,
    name: str,
    budget: _SpaceCheck,
    directories: list[tuple[str, tarfile.TarInfo]],
) -> None:
    parts = _member_parts(name, member.name)
    if not parts:
        return  # the layer's root itself
    *parent_parts, base = parts
    try:
        parent = beneath.make_directories(root, "/".join(parent_parts)) if parent_parts else None
    except beneath.Refused:
        raise HostileLayer(
            f"{name}: layer member '{member.name}' is written through a symbolic link"
        ) from None
    except NotADirectoryError:
        raise HostileLayer(
            f"{name}: layer member '{member.name}' is below something that is not a directory"
        ) from None
    directory = parent if parent is not None else root
    try:
        if base.startswith(WHITEOUT_PREFIX):
            _whiteout(directory, base)
            return
        _remove_existing(directory, base, keep_directory=member.isdir())
        if member.isdir():
            if beneath.entry_kind(base, directory) is None:
                os.mkdir(base, 0o700, dir_fd=directory)
            directories.append(("/".join(parts), member))
        elif member.isreg():
            source = archive.extractfile(member)
            assert source is not None  # a regular member always has data
            _write_file(directory, base, source, budget)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=directory)
        elif member.islnk():
            _hard_link(root, directory, base, member, name)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=directory)
        elif member.isdev():
            log.info("%s: device node '%s' in a layer is not created", name, member.name)
            return
        else:
            raise ImageError(f"{name}: layer member '{member.name}' has an unknown type")
        _set_attributes(directory, base, member)
        if not member.isdir():
            _set_times(directory, base, member)
    finally:
        if parent is not None:
            os.close(parent)


def _whiteout(directory: int, base: str) -> None:
    if base == OPAQUE_MARKER:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory)
        try:
            os.setxattr(fd, OPAQUE_XATTR, b"y")
        finally:
            os.close(fd)
        return
    hidden = base.removeprefix(WHITEOUT_PREFIX)
    if hidden.startswith(WHITEOUT_PREFIX) or not hidden:
        return  # aufs's own bookkeeping (.wh..wh.plnk...), meaningless here
    _remove_existing(directory, hidden, keep_directory=False)
    os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=directory)


def _remove_existing(directory: int, base: str, keep_directory: bool) -> None:
    """A later member replaces an earlier one of the same name (tar's rule)."""
    kind = beneath.entry_kind(base, directory)
    if kind is None or (keep_directory and stat.S_ISDIR(kind)):
        return
    if stat.S_ISDIR(kind):
        shutil.rmtree(base, dir_fd=directory)
    else:
        os.unlink(base, dir_fd=directory)


def _write_file(directory: int, base: str, source: IO[bytes], budget: _SpaceCheck) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(base, flags, 0o600, dir_fd=directory)
    try:
        while block := source.read(COPY_BUFFER):
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view) :]
            budget.wrote(len(block))
    finally:
        os.close(fd)


def _hard_link(root: int, directory: int, base: str, member: tarfile.TarInfo, name: str) -> None:
    """A hard link to a regular file unpacked earlier from this same layer."""
    target = _member_parts(name, member.linkname, "hard link target")
    if not target:
        raise HostileLayer(f"{name}: layer hard link '{member.name}' points at the layer root")
    try:
        source_parent = beneath.open_beneath(
            root, "/".join(target[:-1]), os.O_PATH | os.O_DIRECTORY
        )
    except (beneath.Refused, FileNotFoundError, NotADirectoryError):
        raise HostileLayer(
            f"{name}: layer hard link '{member.name}' points at '{member.linkname}', which is "
            "not a file of this layer"
        ) from None
    try:
        kind = beneath.entry_kind(target[-1], source_parent)
        if kind is None or not stat.S_ISREG(kind):
            raise HostileLayer(
                f"{name}: layer hard link '{member.name}' points at '{member.linkname}', "
                "which is not a regular file of this layer"
            )
        os.link(
            target[-1],
            base,
            src_dir_fd=source_parent,
            dst_dir_fd=directory,
            follow_symlinks=False,
        )
    finally:
        os.close(source_parent)


def _set_attributes(directory: int, base: str, member: tarfile.TarInfo) -> None:
    if member.islnk():
        return  # the target's attributes are the link's
    if os.geteuid() == 0:
        os.chown(base, member.uid, member.gid, dir_fd=directory, follow_symlinks=False)
    if not member.issym():
        os.chmod(base, stat.S_IMODE(member.mode), dir_fd=directory)
        for attribute in KEPT_XATTRS:
            value = member.pax_headers.get(f"SCHILY.xattr.{attribute}")
            if value is not None:
                _set_xattr(directory, base, attribute, value)


def _set_xattr(directory: int, base: str, attribute: str, value: str) -> None:
    fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    try:
        os.setxattr(fd, attribute, value.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def _set_times(directory: int, path: str, member: tarfile.TarInfo) -> None:
    if member.islnk():
        return
    mtime = float(member.mtime)
    os.utime(path, (mtime, mtime), dir_fd=directory, follow_symlinks=False)


def _set_directory_times(root: int, path: str, member: tarfile.TarInfo) -> None:
    """Through a descriptor: a later member may have replaced a directory by a link."""
    try:
        fd = beneath.open_beneath(root, path, os.O_RDONLY | os.O_DIRECTORY)
    except (beneath.Refused, FileNotFoundError, NotADirectoryError):
        return
    try:
        os.utime(fd, (float(member.mtime), float(member.mtime)))
    finally:
        os.close(fd)


def layer_name(image: str, digest: str) -> str:
    return f"Image '{image}' layer {digest}"
