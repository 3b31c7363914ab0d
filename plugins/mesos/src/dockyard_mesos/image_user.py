"""Who a task runs as inside its image: ``user[:group]`` names resolved in the image's own
``/etc/passwd`` and ``/etc/group`` (not the host's), numbers taken as they are; ``root``
is uid 0 even in an image without ``/etc/passwd`` (a framework's default user).

Both files belong to the image, which anyone can build: they are read without following
any link (a link to a host file would otherwise be read as root), and only their first
megabyte, with malformed lines skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dockyard import beneath
from dockyard.containers import LaunchError

MAX_FILE_SIZE = 1 << 20


@dataclass(frozen=True)
class ImageUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


ROOT = ImageUser(0, 0)


def resolve(rootfs: Path, spec: str | None) -> ImageUser:
    """The ids of ``spec`` (``name``, ``uid``, ``name:group``, ``uid:gid``...); root if None."""
    if not spec:
        return ROOT
    user, _, group = spec.partition(":")
    passwd = _entries(rootfs, "etc/passwd")
    if user.isdigit():
        uid = int(user)
        named = next((e for e in passwd if e[2] == user), None)
        gid = int(named[3]) if named is not None and named[3].isdigit() else 0
        name = named[0] if named is not None else None
    else:
        found = next((e for e in passwd if e[0] == user), None)
        if found is None and user == "root":  # uid 0 whatever the image says (or lacks)
            found = ["root", "x", "0", "0"]
        if found is None or not (found[2].isdigit() and found[3].isdigit()):
            raise LaunchError(f"Failed to find user '{user}' in the image's /etc/passwd")
        uid, gid, name = int(found[2]), int(found[3]), user
    groups = _entries(rootfs, "etc/group")
    if group:
        gid = _group_id(groups, group)
    additional = tuple(
        int(entry[2])
        for entry in groups
        if name is not None and entry[2].isdigit() and name in entry[3].split(",")
    )
    return ImageUser(uid, gid, tuple(g for g in additional if g != gid))


def _group_id(groups: list[list[str]], group: str) -> int:
    if group.isdigit():
        return int(group)
    found = next((e for e in groups if e[0] == group and e[2].isdigit()), None)
    if found is None:
        raise LaunchError(f"Failed to find group '{group}' in the image's /etc/group")
    return int(found[2])


def _entries(rootfs: Path, path: str) -> list[list[str]]:
    """The colon-separated lines of a file of the image (none if it has no such file)."""
    root = beneath.open_root(rootfs)
    try:
        fd = beneath.open_regular(root, path, os.O_RDONLY)
    except FileNotFoundError:
        return []
    except OSError as error:
        raise LaunchError(f"Failed to read the image's /{path}: {error}") from error
    finally:
        os.close(root)
    with os.fdopen(fd, "rb") as file:
        text = file.read(MAX_FILE_SIZE).decode(errors="replace")
    return [fields for line in text.splitlines() if len(fields := line.split(":")) >= 4]
