"""The one rule for every id that becomes a file name, a directory or a container name.

Ids come from API clients and executors, and the agent (root) turns them into paths, so
each is checked here, once, before anything touches the disk: Mesos's rules
(``validateID``: not empty, not ``.`` or ``..``, no ``/``, ``\\`` or control characters;
``validateContainerId``: no ``.`` or space, at most 242 bytes) plus length limits
computed from the longest name derived from each id, so that every file name stays
within ``NAME_MAX`` and every sandbox path within ``PATH_MAX``:

==========================  ============================================================
id                          longest name derived from it (lengths in bytes)
==========================  ============================================================
task id                     the executor directory of a command task (its executor id is
                            its task id): one sandbox path component, <= 255; the ledger
                            keeps task ids in its database, not in file names
container id                ``meta/containers/<root>.<child>...json`` through the same
                            temporary name: 14 + K + 5 <= 255, so K <= 236 for the whole
                            chain (and each level: below Mesos's 242); K is also the
                            standalone sandbox ``containers/<K>``, the ``mesos`` plugin's
                            ``<K>.json`` record and ``<agent id>/<K>`` cgroup. The
                            ``docker`` plugin's ``mesos-<agent id>.<container id>`` is a
                            container name, not a file name
framework, executor, agent  one sandbox path component each: <= 255 (Mesos's NAME_MAX)
==========================  ============================================================

A sandbox path is at most ``len(work_dir) + SANDBOX_SUFFIX_MAX`` bytes; with
``WORK_DIR_MAX`` the agent's own files in it (``stdout``, fetched files and their
temporary names) keep ``SANDBOX_CONTENT_MAX`` bytes below ``PATH_MAX``. Plugins may rely
on all of this: every id a hook receives is one valid path component within these limits.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator
from pathlib import Path

from dockyard.checkpoint import TEMPORARY_NAME_OVERHEAD
from dockyard.containers import StartupError
from dockyard.messages import ContainerID
from dockyard.messages.errors import JsonPath

NAME_MAX = 255
PATH_MAX = 4096
CHECKPOINT_SUFFIX = ".json"
AGENT_CONTAINER_ID = 36
"""A container id the agent makes itself (task and executor containers): a UUID."""

CONTAINER_KEY_MAX = NAME_MAX - TEMPORARY_NAME_OVERHEAD - len(CHECKPOINT_SUFFIX)
"""A whole container id, parents included, written ``<root>.<child>...`` (Mesos: 242 a level)."""
CONTAINER_DEPTH_MAX = 32
"""Levels of a nested container id, the container itself included."""

SANDBOX_SUFFIX_MAX = (
    len("/slaves/")
    + NAME_MAX
    + len("/frameworks/")
    + NAME_MAX
    + len("/executors/")
    + NAME_MAX
    + len("/runs/")
    + AGENT_CONTAINER_ID
)
SANDBOX_CONTENT_MAX = 1024
WORK_DIR_MAX = PATH_MAX - 1 - SANDBOX_SUFFIX_MAX - SANDBOX_CONTENT_MAX


class IdKind(enum.Enum):
    """What an id names, with its length limit and why it is below Mesos's NAME_MAX."""

    AGENT = (NAME_MAX, "")
    FRAMEWORK = (NAME_MAX, "")
    EXECUTOR = (NAME_MAX, "")
    TASK = (NAME_MAX, "")

    def __init__(self, limit: int, why: str) -> None:
        self.limit = limit
        self.why = why


def id_problem(value: str, kind: IdKind) -> str | None:
    """Why ``value`` is not a valid id of this kind, or ``None`` (Mesos's ``validateID``)."""
    return _common_problem(value, kind.limit, kind.why)


def container_id_problems(container_id: ContainerID) -> Iterator[tuple[JsonPath, str]]:
    """Each problem of a (nested) container id, at its path below the id itself."""
    levels: list[ContainerID] = []
    current: ContainerID | None = container_id
    while current is not None and len(levels) <= CONTAINER_DEPTH_MAX:
        levels.append(current)
        current = current.parent
    if len(levels) > CONTAINER_DEPTH_MAX:
        yield (), f"must not be nested more than {CONTAINER_DEPTH_MAX} levels deep"
        return
    for depth, level in enumerate(levels):
        reason = _common_problem(level.value, CONTAINER_KEY_MAX, _CONTAINER_WHY)
        if reason is None and ("." in level.value or " " in level.value):
            reason = f"{level.value!r} contains invalid characters ('.' and ' ' are not allowed)"
        if reason:
            yield (*("parent",) * depth, "value"), reason
    key = ".".join(level.value for level in reversed(levels))
    if len(levels) > 1 and len(key.encode(errors="replace")) > CONTAINER_KEY_MAX:
        yield (
            (),
            (
                f"{key!r} (the parents and the container joined with '.') must not be greater "
                f"than {CONTAINER_KEY_MAX} bytes, {_CONTAINER_WHY}"
            ),
        )


_CONTAINER_WHY = "so that its checkpoint file name fits in NAME_MAX"


def _common_problem(value: str, limit: int, why: str) -> str | None:
    if not value:
        return "ID must not be empty"
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        return "ID must be valid Unicode (it contains a lone surrogate)"
    if size > limit:
        return f"ID must not be greater than {limit} bytes" + (f", {why}" if why else "")
    if value in (".", ".."):
        return f"{value!r} is disallowed"
    if any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in value):
        return f"{value!r} contains invalid characters"
    return None


def check_agent_paths(work_dir: Path, agent_id: str) -> None:
    """Refuse to start when the work dir or the agent id would make paths too long or escape."""
    length = len(os.fsencode(work_dir.absolute()))
    if length > WORK_DIR_MAX:
        raise StartupError(
            f"--work_dir is {length} bytes long; at most {WORK_DIR_MAX} leave room for the "
            f"sandbox paths below it within PATH_MAX ({PATH_MAX})"
        )
    reason = id_problem(agent_id, IdKind.AGENT)
    if reason:
        raise StartupError(f"the agent id in {work_dir / 'meta' / 'agent_id'} is invalid: {reason}")
