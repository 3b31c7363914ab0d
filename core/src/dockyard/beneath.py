"""Opening paths below a directory without ever leaving it: for everything the agent, as
root, does in a place a task can write (its sandbox).

A task owns its sandbox and can rename, replace or link anything in it at any instant, so a
path that is checked first and opened later (``realpath``, then ``open``) is a race the
task wins. Here every path below a sandbox is opened relative to a directory file
descriptor, and **no component may be a symbolic link**, not even one that stays inside:
the kernel's ``openat2(2)`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
RESOLVE_NO_MAGICLINKS`` when it has it (Linux 5.6+; a seccomp filter, e.g. Docker's, may
hide it), else a walk that opens one component at a time with ``O_NOFOLLOW`` from the
previous directory's descriptor. Both give the same answers on every kernel; following
in-sandbox links safely without the kernel would need a resolver of our own.

A file is first opened with ``O_PATH`` (no driver's ``open`` runs, a FIFO cannot block)
and ``fstat``-ed; only a regular file or a directory is then reopened for reading or
writing, through ``/proc/self/fd`` so that it is the very inode that was checked.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from dockyard.ownership import hand_over

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
CONFINED = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
_SYS_OPENAT2 = 437
"""The same number on every Linux architecture (system calls added since 5.1 share one table)."""
_AT_FDCWD = -100
_CREATE_RETRIES = 100
"""A task that keeps creating and removing a file makes a create-or-open loop give up here."""

Owner = tuple[int, int]
"""uid and gid to give what is created."""


class Refused(OSError):
    """A path the agent will not use: it leads through a symbolic link, goes up, or names
    something other than a regular file or directory. ``strerror`` says which."""


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _openat2(directory: int, path: str, flags: int, mode: int) -> int:
    """``openat2`` confined below ``directory``; a negative errno on failure."""
    creating = flags & os.O_CREAT or (flags & os.O_TMPFILE) == os.O_TMPFILE
    how = _OpenHow(flags, mode if creating else 0, CONFINED)
    result = _syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(directory),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    return int(result) if result >= 0 else -ctypes.get_errno()


def _kernel_resolves() -> bool:
    fd = _openat2(_AT_FDCWD, ".", os.O_PATH | os.O_CLOEXEC, 0)
    if fd < 0:
        return False  # ENOSYS (before 5.6), or EPERM/ENOSYS from a seccomp filter
    os.close(fd)
    return True


OPENAT2 = _kernel_resolves()
"""Whether the kernel confines paths itself; else the walk does (tests switch it off)."""


def parts_of(path: str | PurePosixPath) -> tuple[str, ...]:
    """The components of a relative path; ``Refused`` for an absolute one, ``..`` or NUL."""
    text = str(path)
    if "\0" in text:
        raise Refused(errno.EINVAL, "contains a NUL byte", text)
    if text.startswith("/"):
        raise Refused(errno.EXDEV, "is absolute, not relative to the sandbox", text)
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if ".." in parts:
        raise Refused(errno.EXDEV, "goes up with '..'", text)
    return parts


def open_root(path: Path) -> int:
    """An ``O_PATH`` descriptor of a directory the agent owns (the work dir, a sandbox)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


@contextmanager
def closing(fd: int) -> Iterator[int]:
    """Close ``fd`` at the end of the block."""
    try:
        yield fd
    finally:
        os.close(fd)


def open_beneath(root: int, path: str | PurePosixPath, flags: int, mode: int = 0o644) -> int:
    """Open ``path`` below the directory descriptor ``root`` with ``flags`` (``O_NOFOLLOW``
    and ``O_CLOEXEC`` are added); ``Refused`` if any component is a symbolic link.

    With ``O_PATH`` a final symbolic link is returned, not refused (``fstat`` tells).
    """
    parts = parts_of(path)
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    if not parts:
        return os.open(".", flags, dir_fd=root)
    if OPENAT2:
        fd = _openat2(root, "/".join(parts), flags, mode)
        if fd >= 0:
            return fd
        if -fd in (errno.ELOOP, errno.EXDEV):
            raise Refused(errno.ELOOP, "is or passes through a symbolic link", str(path))
        if -fd not in (errno.EAGAIN, errno.ENOTDIR):
            raise OSError(-fd, os.strerror(-fd), str(path))
        # EAGAIN: a rename raced the lookup; ENOTDIR may be a final link opened as a
        # directory: the walk copes with the one and names the other.
    return _walk(root, parts, flags, mode, str(path))


def _walk(root: int, parts: tuple[str, ...], flags: int, mode: int, path: str) -> int:
    current = root
    try:
        for part in parts[:-1]:
            following = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current)
            if current != root:
                os.close(current)
            current = following
            kind = os.fstat(current).st_mode
            if stat.S_ISLNK(kind):
                raise Refused(errno.ELOOP, "is or passes through a symbolic link", path)
            if not stat.S_ISDIR(kind):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        try:
            return os.open(parts[-1], flags, mode, dir_fd=current)
        except OSError as error:
            if error.errno == errno.ELOOP or (
                error.errno == errno.ENOTDIR and _is_link(parts[-1], current)
            ):
                raise Refused(errno.ELOOP, "is or passes through a symbolic link", path) from None
            raise
    except Refused:
        raise
    except OSError as error:
        raise OSError(error.errno, error.strerror, path) from None
    finally:
        if current != root:
            os.close(current)


def _is_link(name: str, directory: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


def other_kind(mode: int) -> str | None:
    """What a file is, when it is neither a regular file nor a directory; else None."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    for test, name in kinds:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "of an unknown file type"


def lookup(root: int, path: str | PurePosixPath) -> tuple[int, os.stat_result]:
    """An ``O_PATH`` descriptor and the status of the regular file or directory at ``path``;
    ``Refused`` for a link, FIFO, socket or device (nothing of it is opened)."""
    fd = open_beneath(root, path, os.O_PATH)
    status = os.fstat(fd)
    kind = other_kind(status.st_mode)
    if kind is not None:
        os.close(fd)
        raise Refused(errno.EPERM, f"is {kind}, not a regular file or directory", str(path))
    return fd, status


def reopen(path_fd: int, flags: int) -> int:
    """Open the inode behind an ``O_PATH`` descriptor for real, whatever its name is now."""
    flags = (flags | os.O_CLOEXEC | os.O_NOCTTY) & ~(os.O_NOFOLLOW | os.O_CREAT | os.O_EXCL)
    return os.open(f"/proc/self/fd/{path_fd}", flags)


def open_regular(
    root: int,
    path: str | PurePosixPath,
    flags: int,
    mode: int = 0o644,
    owner: Owner | None = None,
) -> int:
    """Open the regular file at ``path`` below ``root``; ``O_CREAT`` creates it (for
    ``owner``). Anything else there is ``Refused``, and so is, for writing, a file with
    other hard links: it could be any file of this file system."""
    writing = flags & (os.O_WRONLY | os.O_RDWR)
    for _ in range(_CREATE_RETRIES):
        if flags & os.O_CREAT:  # first, as most files are new: whatever exists is kept
            try:
                fd = open_beneath(root, path, flags | os.O_EXCL, mode)
            except FileExistsError:
                pass
            else:
                if owner is not None:
                    hand_over(fd, *owner)
                return fd
        try:
            found, status = lookup(root, path)
        except FileNotFoundError:
            if not flags & os.O_CREAT:
                raise
            continue  # removed since: create it
        with closing(found):
            if stat.S_ISDIR(status.st_mode):
                raise Refused(errno.EISDIR, "is a directory", str(path))
            if writing and status.st_nlink > 1:
                raise Refused(errno.EPERM, "has other hard links", str(path))
            return reopen(found, flags)
    raise Refused(errno.EAGAIN, "keeps appearing and disappearing", str(path))


def make_directories(root: int, path: str | PurePosixPath, owner: Owner | None = None) -> int:
    """An ``O_PATH`` descriptor of the directory ``path`` below ``root``, creating the
    missing ones (mode 0755, given to ``owner``); ``Refused`` for a symbolic link on the way."""
    current = os.dup(root)
    try:
        for part in parts_of(path):
            try:
                os.mkdir(part, 0o755, dir_fd=current)
            except FileExistsError:
                pass
            else:
                if owner is not None:
                    os.chown(part, *owner, dir_fd=current, follow_symlinks=False)
            following = open_beneath(current, part, os.O_PATH | os.O_DIRECTORY)
            os.close(current)
            current = following
    except BaseException:
        os.close(current)
        raise
    return current


def entry_kind(name: str, directory: int) -> int | None:
    """``st_mode`` of ``name`` in ``directory`` itself (a link is not followed); None if absent."""
    try:
        return os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
