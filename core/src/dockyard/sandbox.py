"""Sandbox paths in Mesos's layout, the ``latest`` symlink beside the runs, and who may
write where: a task owns its sandbox, and can change nothing above it (a writable ``runs/``
would let it point ``latest`` anywhere); ``meta/`` is the agent's alone. Modes are set
explicitly, whatever the agent's umask.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from dockyard import users
from dockyard.containers import LaunchError
from dockyard.ownership import hand_over

log = logging.getLogger(__name__)

DIRECTORY_MODE = 0o755
"""Sandboxes and their parents: readable by all, as in Mesos; parents belong to the agent."""
STATE_MODE = 0o700
"""``<work_dir>/meta``: checkpoints, plugin state and the supervisor's socket."""


def task_sandbox(
    work_dir: Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """``<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<container>``."""
    return work_dir.joinpath(
        "slaves",
        agent_id,
        "frameworks",
        framework_id,
        "executors",
        executor_id,
        "runs",
        container_id,
    )


def standalone_sandbox(work_dir: Path, container_id: str) -> Path:
    """Sandbox of a container launched with ``LAUNCH_CONTAINER``."""
    return work_dir / "containers" / container_id


def create_state_dir(meta_dir: Path) -> None:
    """Create ``<work_dir>/meta`` for the agent alone, or narrow an existing one to that."""
    _mkdir(str(meta_dir.parent), exist_ok=True)
    meta_dir.mkdir(exist_ok=True)
    os.chmod(meta_dir, STATE_MODE)
    work_dir = meta_dir.parent
    mode = work_dir.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        log.warning("%s is writable by other users, who could replace the sandboxes", work_dir)


def create_sandbox(sandbox: Path, user: str | None) -> None:
    """Create the sandbox (owned by ``user`` when given) and point ``latest`` at it.

    Raises LaunchError for an unknown user or a directory that cannot be made.
    """
    try:
        owner = None if user is None else users.lookup(user)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise LaunchError(f"Failed to create sandbox: user {user!r} does not exist") from None
    try:
        make_directory(sandbox)
        if owner is not None:
            hand_over(sandbox, owner.uid, owner.gid)
        if sandbox.parent.name == "runs":
            point_latest_at(sandbox)
    except OSError as error:
        raise LaunchError(f"Failed to create sandbox: {error}") from None


def make_directory(sandbox: Path) -> None:
    """``mkdir -p`` with :data:`DIRECTORY_MODE`, whatever the umask, again if garbage
    collection removes an emptied parent meanwhile. Parents are looked at only when the
    sandbox's own mkdir finds one missing (a launch makes one to three directories)."""
    for attempt in range(3):
        try:
            _mkdir(str(sandbox), exist_ok=False)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise


def _mkdir(path: str, *, exist_ok: bool) -> None:
    """``path`` and its missing parents, each new one with :data:`DIRECTORY_MODE` exactly."""
    try:
        try:
            os.mkdir(path, DIRECTORY_MODE)
        except FileNotFoundError:
            _mkdir(os.path.dirname(path), exist_ok=True)
            os.mkdir(path, DIRECTORY_MODE)
    except FileExistsError:  # a parent made meanwhile, by a concurrent launch
        if exist_ok:
            return
        raise
    os.chmod(path, DIRECTORY_MODE)


def point_latest_at(sandbox: Path) -> None:
    """Point ``runs/latest`` at ``sandbox``; a replaced link is swapped atomically, so
    that readers never see it missing."""
    latest = sandbox.parent / "latest"
    try:
        os.symlink(sandbox.name, latest)  # the executor's first run
        return
    except FileExistsError:
        pass
    tmp = sandbox.parent / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(sandbox.name)
    os.replace(tmp, latest)
