"""Reading the kernel's small files (``/proc``, cgroups) in as few system calls as they
allow: a Python file object adds an ``fstat``, an ``ioctl`` and two ``lseek`` to each, and
the supervisor reads several per task."""

from __future__ import annotations

import os

CHUNK = 65536


def read(path: str) -> bytes:
    """All of a file that lists records (``cgroup.procs``, ``children``): a read may stop
    at a page's worth, so it is read until the end."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_made_at_once(path: str) -> bytes:
    """All of a file the kernel makes in one go (``/proc/<pid>/stat``, ``/proc/stat``):
    a read that is not filled to the brim has had all of it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, CHUNK)]
        while len(chunks[-1]) == CHUNK:
            chunks.append(os.read(fd, CHUNK))
        return b"".join(chunks)
    finally:
        os.close(fd)


def write(path: str, data: bytes) -> None:
    """One write to a control file (``cgroup.procs``, ``cgroup.kill``...)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
