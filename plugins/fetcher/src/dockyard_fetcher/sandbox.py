"""Where fetched files go: directories in the sandbox, reached without following any link,
and a private staging directory beside it.

Fetches run as root in a directory that belongs to the task user, who may already have put
links there (an earlier URI's archive, a reused executor sandbox). So every path below the
sandbox is opened with :mod:`dockyard.beneath` (no component may be a symbolic link), and
downloads and extractions happen in a root-only directory in the sandbox's parent (the
agent's own ``runs/`` directory, on the sandbox's file system), then move in.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path, PurePosixPath

from dockyard import beneath

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.identity import Identity


def destination(sandbox: int, relative: PurePosixPath, owner: Identity | None) -> int:
    """The directory descriptor that ``relative``'s file goes into, its missing directories
    created (for ``owner``). ``relative`` was checked lexically
    (:func:`dockyard_fetcher.uris.destination_name`). Its last component may be anything
    but a directory: it is replaced, never written through."""
    ids = None if owner is None else (owner.uid, owner.gid)
    try:
        directory = beneath.make_directories(sandbox, relative.parent, ids)
    except beneath.Refused:
        raise FetchError(
            f"output path '{relative}' leads through a symbolic link "
            "(links in the sandbox are not followed)"
        ) from None
    except NotADirectoryError:
        raise FetchError(f"output path '{relative}': a component is not a directory") from None
    kind = beneath.entry_kind(relative.name, directory)
    if kind is not None and stat.S_ISDIR(kind):
        os.close(directory)
        raise FetchError(f"output path '{relative}' is an existing directory")
    return directory


def make_staging(sandbox: Path) -> Path:
    """A new root-only directory beside ``sandbox``, out of the task's reach."""
    staging = sandbox.parent / f".{sandbox.name}.fetch-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700)
    return staging
