"""A small tmpfs to play a full or filling disk, mounted for one test and always unmounted."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(directory: Path, size_mb: int) -> Iterator[Path]:
    """``directory`` with a ``size_mb`` tmpfs mounted on it (root only; else the test skips)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(directory)], check=True
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill_to(directory: Path, fraction: float) -> Path:
    """Write a filler file until the file system is ``fraction`` used; returns the filler."""
    stats = os.statvfs(directory)
    target_free = int(stats.f_blocks * (1 - fraction)) * stats.f_frsize
    filler = directory / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("ab") as out:
        while True:
            free = os.statvfs(directory).f_bavail * stats.f_frsize
            if free <= target_free:
                break
            out.write(chunk[: min(len(chunk), free - target_free)])
            out.flush()
    return filler


def fill_up(directory: Path) -> Path:
    """Write a filler file until the file system has not one free block; returns it."""
    filler = directory / "filler"
    chunk = bytes(1 << 20)
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while True:
            os.write(descriptor, chunk)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
    finally:
        os.close(descriptor)
    return filler
