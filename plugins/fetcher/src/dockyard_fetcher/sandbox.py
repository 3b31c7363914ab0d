"""Paths inside a sandbox that stay inside it, whatever symlinks the sandbox holds."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.identity import Identity, give


def destination(sandbox: Path, relative: PurePosixPath, owner: Identity | None) -> Path:
    """The absolute path for ``relative``, its missing directories created (for ``owner``).

    ``relative`` was checked lexically (:func:`dockyard_fetcher.uris.destination_name`); here
    each existing directory on the way must really be inside the sandbox, so a symlink to
    ``/etc`` cannot carry the file out. The last component may be anything but a directory;
    it is replaced atomically, never written through.
    """
    root = sandbox.resolve()
    current = root
    for part in relative.parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            current.mkdir()
            give(current, owner)
            continue
        if stat.S_ISLNK(mode):
            current = current.resolve()
            if not current.is_relative_to(root) or not current.is_dir():
                raise FetchError(f"output path '{relative}' leads out of the sandbox (symlink)")
        elif not stat.S_ISDIR(mode):
            raise FetchError(f"output path '{relative}': '{part}' is not a directory")
    target = current / relative.name
    if _is_real_dir(target):
        raise FetchError(f"output path '{relative}' is an existing directory")
    return target


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
