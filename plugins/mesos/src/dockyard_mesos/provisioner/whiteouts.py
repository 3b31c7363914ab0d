"""The two ways a layer marks what it deletes from the layers below it.

The OCI/Docker tar form: a file ``.wh.NAME`` deletes ``NAME``, and ``.wh..wh..opq`` in a
directory hides everything the lower layers had in it. The overlayfs form, which a store
that extracts layers for overlay writes: a character device 0/0 named ``NAME``, and the
``trusted.overlay.opaque=y`` attribute on a directory. The copy backend applies both.
"""

from __future__ import annotations

import os
import stat

PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_ATTRIBUTE = "trusted.overlay.opaque"


def deleted_name(name: str, status: os.stat_result) -> str | None:
    """The name an entry deletes, if it is a whiteout; None otherwise."""
    if name == OPAQUE_MARKER:
        return None
    if name.startswith(PREFIX):
        return name[len(PREFIX) :]
    if stat.S_ISCHR(status.st_mode) and status.st_rdev == 0:
        return name
    return None


def is_marker(name: str, status: os.stat_result) -> bool:
    """Whether an entry only carries a whiteout (it is not copied)."""
    return name == OPAQUE_MARKER or deleted_name(name, status) is not None


def is_opaque(directory: str, names: list[str]) -> bool:
    """Whether a layer's directory hides what the lower layers have in it."""
    if OPAQUE_MARKER in names:
        return True
    try:
        return os.getxattr(directory, OPAQUE_ATTRIBUTE, follow_symlinks=False) == b"y"
    except OSError:
        return False
