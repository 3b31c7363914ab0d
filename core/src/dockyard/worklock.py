"""One agent per work_dir: an exclusive lock on ``<work_dir>/meta/agent.lock``.

Two agents (or an agent and a ``dockyard launch``) on one work_dir would each take the
other's tasks for orphans. The lock is an ``flock`` held on an open file for as long as
the agent runs, so the kernel releases it when the process dies, even by SIGKILL: a
stale lock file never blocks a restart. The file holds the holder's pid, for the
message a second agent prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from dockyard.containers import StartupError

LOCK_NAME = "agent.lock"


class WorkDirLock:
    """The lock held on a work_dir; :meth:`release` (or process exit) lets go of it."""

    def __init__(self, work_dir: Path, fd: int) -> None:
        self.work_dir = work_dir
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def lock_work_dir(work_dir: Path) -> WorkDirLock:
    """Take the work_dir's lock, or raise StartupError naming the pid that holds it."""
    path = work_dir / "meta" / LOCK_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise StartupError(f"Cannot lock --work_dir={work_dir}: {path}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise StartupError(
            f"Another dockyard agent{holder} is using --work_dir={work_dir} "
            f"(it holds {path}); stop it or choose another --work_dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return WorkDirLock(work_dir, fd)


def _holder(fd: int) -> str:
    """`` (pid N)`` from the lock file, or nothing if it does not say yet."""
    with contextlib.suppress(OSError, ValueError):
        return f" (pid {int(os.pread(fd, 32, 0))})"
    return ""
