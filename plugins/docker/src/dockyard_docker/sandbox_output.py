"""The sandbox ``stdout`` and ``stderr`` files, made before the container starts.

As with Mesos's sandbox logger they exist from the launch on, and under ``--switch_user``
they belong to the task's user, not to the root agent that writes them. The sandbox may
already hold what the fetch put there (as that user): a ``stdout`` that is a symbolic link,
a FIFO or a hard link to another file is never opened nor handed over, and fails the launch.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard import users
from dockyard.containers import LaunchError

from dockyard_docker.logs import STREAMS

CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
INSPECT = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
"""Opens what is there without following a link or running a device's open."""


def create_outputs(sandbox: Path, user: str | None) -> None:
    """Create ``stdout`` and ``stderr`` (or keep plain files already there), given to ``user``."""
    owner = file_owner(user)
    directory = os.open(sandbox, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in STREAMS:
            try:
                _create(directory, name, owner)
            except OSError as error:
                raise LaunchError(
                    f"Failed to create the sandbox's '{name}': {error.strerror}"
                ) from None
    finally:
        os.close(directory)


def _create(directory: int, name: str, owner: tuple[int, int] | None) -> None:
    try:
        fd = os.open(name, CREATE, 0o644, dir_fd=directory)
    except FileExistsError:
        fd = os.open(name, INSPECT, dir_fd=directory)
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise OSError(0, "it is not a plain file (a link, FIFO or device?)")
        if found.st_nlink != 1:
            raise OSError(0, "it is a hard link to another file")
        if owner is not None:  # the very inode checked above, whatever fd kind it is
            os.chown(f"/proc/self/fd/{fd}", *owner)
    finally:
        os.close(fd)


def file_owner(user: str | None) -> tuple[int, int] | None:
    """The uid and gid output files are given to; LaunchError for an unknown user."""
    if user is None:
        return None
    try:
        found = users.lookup(user)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise LaunchError(f"Failed to find user '{user}'") from None
    return found.uid, found.gid
