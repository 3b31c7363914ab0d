"""Giving a file or directory to a task's user, without a write when it is theirs already.

A launch asks for its sandbox up to three times (the core, then its containerizer), and
the supervisor for each output file it creates as root for a root task: a ``chown`` is a
journaled inode write where a ``stat`` is a look-up. A light module: the supervisor
imports it.
"""

from __future__ import annotations

import os
from pathlib import Path


def hand_over(target: Path | str | int, uid: int, gid: int) -> None:
    """``chown`` ``target`` (a path, followed, or an open descriptor) to ``uid`` and ``gid``
    (-1: unchanged) unless it is owned so already."""
    status = os.stat(target)
    if status.st_uid != uid or (gid != -1 and status.st_gid != gid):
        os.chown(target, uid, gid)
