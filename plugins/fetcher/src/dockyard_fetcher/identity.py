"""Who a fetch runs as: the task user's ids when the agent is root, else nobody in particular."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard import users

from dockyard_fetcher.errors import FetchError

Identity = users.User
"""A user to act as: local files are read with these ids, fetched files are given to them."""


def identity_for(user: str | None) -> Identity | None:
    """The identity to switch to for ``user``, or None when no switch is needed or possible.

    Only a root agent can act as another user (Mesos's ``os::su`` in mesos-fetcher); an agent
    running as an ordinary user fetches as itself, and so does a task running as root.
    """
    if user is None or os.geteuid() != 0:
        return None
    try:
        found = users.lookup(user)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise FetchError(f"Failed to switch to user '{user}': no such user") from None
    if found.uid == 0:
        return None
    return found


def give(path: Path, owner: Identity | None) -> None:
    """Hand a file the agent created to ``owner`` (no-op without one); never follows links."""
    if owner is not None:
        os.lchown(path, owner.uid, owner.gid)


def give_tree(root: Path, owner: Identity) -> None:
    """Hand ``root`` and everything below it to ``owner``."""
    give(root, owner)
    for directory, names, files in os.walk(root):
        for name in [*names, *files]:
            os.lchown(os.path.join(directory, name), owner.uid, owner.gid)
