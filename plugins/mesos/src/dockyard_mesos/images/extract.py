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
the layer directory's descriptor, one component at a time, without following links.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import stat
import sys
import tarfile
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from dockyard_mesos.images.errors import HostileLayer, ImageError, StoreFull
from dockyard_mesos.images.manifests import Compression

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

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
READ_BUFFER = 64 << 10
"""Bytes read from the blob at a time (tarfile's default, 10 KiB, costs many small reads)."""
OPEN_DIRECTORIES = 256


class Cancelled(Exception):
    """The unpacking was stopped from outside (its pull was cancelled)."""


@dataclass(frozen=True)
class _Reading:
    """How the tar stream of a layer is read: what decompresses the blob, and tarfile's
    stream mode on top of it."""

    tar_mode: Literal["r|", "r|gz"]
    decompressed: Callable[[IO[bytes]], AbstractContextManager[IO[bytes] | io.BufferedIOBase]] = (
        contextlib.nullcontext
    )


READING: Mapping[Compression, _Reading] = {
    Compression.NONE: _Reading("r|"),
    Compression.GZIP: _Reading("r|gz"),  # tarfile's own gzip stream: faster than GzipFile
    Compression.ZSTD: _Reading("r|", zstd.ZstdFile),
}
"""zstd goes through ``ZstdFile``, never tarfile's own zstd stream (Python 3.14): ``ZstdFile``
decompresses at most what is read (zstd shrinks 128 KiB of zeros to a few bytes: a stream
decompressing whole chunks holds gigabytes at once) and a frame cut short is an error, where
tarfile's stream would end quietly. libzstd's default window limit (128 MiB) bounds its
memory: a frame asking for more fails."""


def extract_layer(
    blob: Path, compression: Compression, destination: Path, name: str, stop: threading.Event
) -> None:
    """Unpack ``blob`` into the new directory ``destination``; ``name`` (the image and the
    layer) goes into every error. Setting ``stop`` ends it early with :class:`Cancelled`."""
    destination.mkdir()
    destination.chmod(0o755)
    reading = READING[compression]
    unpacker = _Unpacker(destination, name)
    try:
        with (
            blob.open("rb") as raw,
            reading.decompressed(raw) as stream,
            tarfile.open(fileobj=stream, mode=reading.tar_mode, bufsize=READ_BUFFER) as archive,
        ):
            while (member := archive.next()) is not None:
                if stop.is_set():
                    raise Cancelled(name)
                unpacker.member(archive, member)
                archive.members.clear()  # type: ignore[attr-defined]  # else it keeps every header
        unpacker.finish()
    except tarfile.TarError as error:
        raise ImageError(f"{name}: the layer is not a valid tar archive ({error})") from None
    except zstd.ZstdError as error:
        raise ImageError(
            f"{name}: the layer's zstd data cannot be decompressed ({error})"
        ) from None
    except EOFError as error:
        raise ImageError(f"{name}: the layer is truncated ({error})") from None
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(f"{name}: the image store's file system is full") from None
        raise ImageError(f"{name}: unpacking the layer failed: {error}") from None
    finally:
        unpacker.close()


class _SpaceCheck:
    """Fails the unpacking before it fills the store's file system (a gzip or zstd bomb, a layer
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


class _Directories:
    """``O_PATH`` descriptors of the layer's directories by path, each opened from its
    parent's without following a link: consecutive members of one directory cost no lookup.
    At most :data:`OPEN_DIRECTORIES` are kept."""

    def __init__(self, root: int, name: str) -> None:
        self._root = root
        self._name = name
        self._open: dict[tuple[str, ...], int] = {}

    def get(self, parts: tuple[str, ...], member: str, create: bool = True) -> int:
        """The directory ``parts``, created (0755) if missing and ``create``, else
        FileNotFoundError; :class:`HostileLayer` if a component is not a directory."""
        if not parts:
            return self._root
        found = self._open.get(parts)
        if found is not None:
            return found
        parent = self.get(parts[:-1], member, create)
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(parts[-1], 0o755, dir_fd=parent)
        flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            opened = os.open(parts[-1], flags, dir_fd=parent)
        except NotADirectoryError:
            kind = _kind(parts[-1], parent)
            if kind is not None and stat.S_ISLNK(kind):
                raise HostileLayer(
                    f"{self._name}: layer member '{member}' is written through a symbolic link"
                ) from None
            raise HostileLayer(
                f"{self._name}: layer member '{member}' is below something that is not a directory"
            ) from None
        if len(self._open) >= OPEN_DIRECTORIES:
            self.forget(())
        self._open[parts] = opened
        return opened

    def forget(self, parts: tuple[str, ...]) -> None:
        """Close the descriptors of ``parts`` and below (it is about to be replaced)."""
        depth = len(parts)
        for key in [key for key in self._open if key[:depth] == parts]:
            os.close(self._open.pop(key))


class _Unpacker:
    def __init__(self, destination: Path, name: str) -> None:
        self._root = os.open(destination, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._name = name
        self._budget = _SpaceCheck(destination, name)
        self._directories = _Directories(self._root, name)
        self._times: list[tuple[tuple[str, ...], tarfile.TarInfo]] = []
        """Directories whose times are set at the end (their children change them)."""
        self._privileged = os.geteuid() == 0
        self._owner = (os.geteuid(), os.getegid())
        """Who owns what is created: no chown needed for members of the same owner."""

    def close(self) -> None:
        self._directories.forget(())
        os.close(self._root)

    def finish(self) -> None:
        """Directory times, children first (unpacking a child changes its parent's)."""
        for parts, member in reversed(self._times):
            try:
                found = self._directories.get(parts, member.name, create=False)
            except (HostileLayer, FileNotFoundError):
                continue  # replaced by a later member
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=found)
            try:
                os.utime(fd, (float(member.mtime), float(member.mtime)))
            finally:
                os.close(fd)

    def member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = _member_parts(self._name, member.name)
        if not parts:
            return  # the layer's root itself
        directory = self._directories.get(parts[:-1], member.name)
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts, directory, base)
        elif member.isreg():
            source = archive.extractfile(member)
            assert source is not None  # a regular member always has data
            self._file(parts, directory, source, member)
        elif member.isdir():
            kind = _kind(base, directory)
            if kind is not None and not stat.S_ISDIR(kind):
                os.unlink(base, dir_fd=directory)
                kind = None
            if kind is None:
                os.mkdir(base, 0o700, dir_fd=directory)
            self._times.append((parts, member))
            self._attributes(directory, base, member)
        elif member.isdev():
            log.info("%s: device node '%s' in a layer is not created", self._name, member.name)
        elif member.islnk():
            self._replace(parts, directory, base)
            self._hard_link(directory, base, member)
        elif member.issym() or member.isfifo():
            self._replace(parts, directory, base)
            if member.issym():
                os.symlink(member.linkname, base, dir_fd=directory)
            else:
                os.mkfifo(base, 0o600, dir_fd=directory)
            self._attributes(directory, base, member)
            _set_times(directory, base, member)
        else:
            raise ImageError(f"{self._name}: layer member '{member.name}' has an unknown type")

    def _replace(self, parts: tuple[str, ...], directory: int, base: str) -> None:
        """A later member replaces an earlier one of the same name (tar's rule)."""
        kind = _kind(base, directory)
        if kind is None:
            return
        if stat.S_ISDIR(kind):
            self._directories.forget(parts)
            shutil.rmtree(base, dir_fd=directory)
        else:
            os.unlink(base, dir_fd=directory)

    def _whiteout(self, parts: tuple[str, ...], directory: int, base: str) -> None:
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
        self._replace((*parts[:-1], hidden), directory, hidden)
        os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=directory)

    def _file(
        self, parts: tuple[str, ...], directory: int, source: IO[bytes], member: tarfile.TarInfo
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(parts[-1], flags, 0o600, dir_fd=directory)
        except FileExistsError:
            self._replace(parts, directory, parts[-1])
            fd = os.open(parts[-1], flags, 0o600, dir_fd=directory)
        try:
            while block := source.read(COPY_BUFFER):
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view) :]
                self._budget.wrote(len(block))
            if self._privileged and (member.uid, member.gid) != self._owner:
                os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, stat.S_IMODE(member.mode))  # a new file's mode went through umask
            _set_kept_xattrs(fd, member)
            os.utime(fd, (float(member.mtime), float(member.mtime)))
        finally:
            os.close(fd)

    def _hard_link(self, directory: int, base: str, member: tarfile.TarInfo) -> None:
        """A hard link to a regular file unpacked earlier from this same layer."""
        target = _member_parts(self._name, member.linkname, "hard link target")
        refused = (
            f"{self._name}: layer hard link '{member.name}' points at '{member.linkname}', "
            "which is not a regular file of this layer"
        )
        if not target:
            raise HostileLayer(refused)
        try:
            source = self._directories.get(target[:-1], member.name, create=False)
        except (HostileLayer, FileNotFoundError):
            raise HostileLayer(refused) from None
        kind = _kind(target[-1], source)
        if kind is None or not stat.S_ISREG(kind):
            raise HostileLayer(refused)
        os.link(target[-1], base, src_dir_fd=source, dst_dir_fd=directory, follow_symlinks=False)

    def _attributes(self, directory: int, base: str, member: tarfile.TarInfo) -> None:
        if self._privileged:
            os.chown(base, member.uid, member.gid, dir_fd=directory, follow_symlinks=False)
        if not member.issym():
            os.chmod(base, stat.S_IMODE(member.mode), dir_fd=directory)


def _set_kept_xattrs(fd: int, member: tarfile.TarInfo) -> None:
    for attribute in KEPT_XATTRS:
        value = member.pax_headers.get(f"SCHILY.xattr.{attribute}")
        if value is not None:
            os.setxattr(fd, attribute, value.encode("utf-8", "surrogateescape"))


def _set_times(directory: int, path: str, member: tarfile.TarInfo) -> None:
    mtime = float(member.mtime)
    os.utime(path, (mtime, mtime), dir_fd=directory, follow_symlinks=False)


def _kind(name: str, directory: int) -> int | None:
    """``st_mode`` of ``name`` itself (a link is not followed); None if absent."""
    try:
        return os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None


def layer_name(image: str, digest: str) -> str:
    return f"Image '{image}' layer {digest}"
