"""Sandbox paths in Mesos's layout, and the ``latest`` symlink beside the runs."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from dockyard.containers import LaunchError


def task_sandbox(
    work_dir: Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """``<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<container>``."""
    return (
        work_dir
        / "slaves"
        / agent_id
        / "frameworks"
        / framework_id
        / "executors"
        / executor_id
        / "runs"
        / container_id
    )


def standalone_sandbox(work_dir: Path, container_id: str) -> Path:
    """Sandbox of a container launched with ``LAUNCH_CONTAINER``."""
    return work_dir / "containers" / container_id


def create_sandbox(sandbox: Path, user: str | None) -> None:
    """Create the sandbox (owned by ``user`` when given) and point ``latest`` at it.

    Raises LaunchError for an unknown user or a directory that cannot be made.
    """
    try:
        entry = None if user is None else pwd.getpwnam(user)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise LaunchError(f"Failed to create sandbox: user {user!r} does not exist") from None
    try:
        make_directory(sandbox)
        if entry is not None:
            os.chown(sandbox, entry.pw_uid, entry.pw_gid)
        if sandbox.parent.name == "runs":
            point_latest_at(sandbox)
    except OSError as error:
        raise LaunchError(f"Failed to create sandbox: {error}") from None


def make_directory(sandbox: Path) -> None:
    """``mkdir -p``, again if garbage collection removes an emptied parent meanwhile."""
    for attempt in range(3):
        try:
            sandbox.mkdir(parents=True, exist_ok=False)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise


def point_latest_at(sandbox: Path) -> None:
    """Replace ``runs/latest`` atomically so readers never see it missing."""
    latest = sandbox.parent / "latest"
    tmp = sandbox.parent / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(sandbox.name)
    os.replace(tmp, latest)
