"""Checking a rotated stream: numbered lines in, the retained files out, in order."""

from __future__ import annotations

from pathlib import Path

PAD = "x" * 90


def lines(first: int, last: int) -> bytes:
    """What :func:`lines_command` prints: 100-byte lines, numbered."""
    return b"".join(b"%08d %s\n" % (n, PAD.encode()) for n in range(first, last + 1))


def lines_command(first: int, last: int) -> str:
    """A shell command (busybox will do) printing numbered 100-byte lines to stdout."""
    return f"awk 'BEGIN {{ for (i = {first}; i <= {last}; i++) printf \"%08d {PAD}\\n\", i }}'"


def retained(sandbox: Path, stream: str) -> tuple[bytes, list[int]]:
    """The stream's retained output, oldest file first, and the size of each file."""
    files = sorted(
        (path for path in sandbox.iterdir() if path.name.startswith(f"{stream}.")),
        key=lambda path: -int(path.name.split(".")[1]),
    )
    files.append(sandbox / stream)
    return b"".join(path.read_bytes() for path in files), [path.stat().st_size for path in files]
