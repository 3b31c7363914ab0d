"""Crash-safe files: every checkpoint is written whole or not at all.

The agent may be SIGKILLed at any instant. A checkpoint is written to a
temporary file in the same directory, fsynced, renamed over the old one, and the
directory is fsynced, so a reader sees either the previous content or the new.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TEMPORARY_PREFIX = "."
TEMPORARY_SUFFIX = ".tmp"
TEMPORARY_NAME_OVERHEAD = len(TEMPORARY_PREFIX) + len(".XXXXXXXX") + len(TEMPORARY_SUFFIX)
"""Bytes the temporary file's name adds to the checkpoint's: ``.<name>.<8 random>.tmp``."""


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMPORARY_PREFIX}{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fchmod(tmp.fileno(), mode)
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True).encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def discard_partial_writes(directory: Path) -> None:
    """Remove temporary files left by a write that a crash interrupted."""
    if directory.is_dir():
        for leftover in directory.glob(f"{TEMPORARY_PREFIX}*{TEMPORARY_SUFFIX}"):
            leftover.unlink(missing_ok=True)
