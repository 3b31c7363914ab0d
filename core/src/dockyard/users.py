"""Who a task's user is (uid, gid, groups), as the agent looks it up at every launch.

A launch looks its user up twice (the sandbox's owner, the process's ids) and a fetch once
more; each lookup reads the user and group databases, and every read lets the agent's
worker threads take the GIL from the event loop. So a name found is kept for
:data:`FRESH_SECONDS`: a change to the user database (a new uid, new groups) reaches tasks
launched a second later at most, as it would reach a task launched a moment later under
Mesos, which looks the user up again each time. Names not found are not kept (so a user
created after a failed launch is found at once, and clients cannot fill the cache).
"""

from __future__ import annotations

import os
import pwd
import time
from dataclasses import dataclass

FRESH_SECONDS = 1.0
KEPT = 1024
"""Names kept at most (only real users are kept, so this is rarely reached)."""


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    """Supplementary groups as ``initgroups`` would set them (the primary one included)."""


_found: dict[str, tuple[float, User]] = {}


def lookup(name: str) -> User:
    """The user called ``name``; KeyError if there is none (ValueError for a NUL in it)."""
    now = time.monotonic()
    kept = _found.get(name)
    if kept is not None and now - kept[0] < FRESH_SECONDS:
        return kept[1]
    entry = pwd.getpwnam(name)
    user = User(name, entry.pw_uid, entry.pw_gid, tuple(os.getgrouplist(name, entry.pw_gid)))
    if len(_found) >= KEPT:
        _found.clear()
    _found[name] = (now, user)
    return user
