"""The work_dir checked before the agent starts, so that a bad one is one clear line.

Without this check a work_dir under a file, on a read-only mount, owned by another user,
or under a home directory that does not exist fails deep inside the agent's start-up, as
a traceback or as an error that blames the HTTP port.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from dockyard.containers import StartupError
from dockyard.core_flags import default_work_dir
from dockyard.sandbox import create_state_dir

OWN_DIRECTORIES = ("meta", "slaves", "containers")
"""What the agent keeps directly under the work_dir (the contract's layout)."""
FIX = "choose another with --work_dir=DIR (or DOCKYARD_WORK_DIR)"


class WorkDirError(StartupError):
    """The work_dir cannot hold the agent's state; ``str()`` says why and what to do."""


def prepare_work_dir(work_dir: Path) -> None:
    """Create ``work_dir`` and its ``meta/``, and prove that the agent can write them and
    the state directories already there."""
    meta = work_dir / "meta"
    try:
        create_state_dir(meta)  # exact modes whatever the umask (docs/security.md)
        for directory in (work_dir, *state_directories(work_dir)):
            probe_writable(directory)
        agent_id = meta / "agent_id"
        if agent_id.exists():
            agent_id.read_bytes()
    except OSError as error:
        raise WorkDirError(describe(work_dir, error)) from error


def probe_writable(directory: Path) -> None:
    """Create and remove a file in ``directory``, as every checkpoint write does."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".dockyard-probe.")
    except OSError as error:  # name the directory, not the random file name
        raise OSError(error.errno, error.strerror, str(directory)) from error
    os.close(fd)
    os.unlink(name)


def state_directories(work_dir: Path) -> list[Path]:
    """The directories the agent writes into that exist already (e.g. made by root)."""
    found = [work_dir / name for name in OWN_DIRECTORIES]
    meta = work_dir / "meta"
    found += [child for child in meta.iterdir() if child.is_dir() and not child.is_symlink()]
    return [directory for directory in found if directory.is_dir()]


def describe(work_dir: Path, error: OSError) -> str:
    """One line: which work_dir, what is wrong with it, and the fix."""
    where = str(error.filename) if error.filename else str(work_dir)
    problem: str
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        problem = f"{blocking_file(Path(where))} is a file, not a directory"
    elif error.errno == errno.EROFS:
        problem = f"{where} is on a read-only file system"
    elif error.errno in (errno.EACCES, errno.EPERM):
        problem = permission_problem(Path(where))
    else:
        problem = f"{where}: {error.strerror or error}"
    if work_dir == default_work_dir():
        problem += default_hint(work_dir)
    return f"cannot use work_dir {work_dir}: {problem}; {FIX}"


def blocking_file(path: Path) -> Path:
    """``path`` or the nearest parent of it that exists (and so is not a directory)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return path


def permission_problem(path: Path) -> str:
    """Which path refused us, and whose it is (the usual cause: made by another user)."""
    action = "cannot write to" if path.exists() else "cannot create"
    for owned in (path, *path.parents):
        try:
            owner = owned.stat().st_uid
        except OSError:
            continue
        return (
            f"{action} {path}: permission denied ({owned} belongs to uid {owner}, "
            f"dockyard runs as uid {os.geteuid()})"
        )
    return f"{action} {path}: permission denied"


def default_hint(work_dir: Path) -> str:
    home = Path.home()
    if home in work_dir.parents and not home.is_dir():
        return f"; it is the default work_dir, under the home directory {home} that does not exist"
    return "; it is the default work_dir"
