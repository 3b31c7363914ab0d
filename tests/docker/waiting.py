"""Polling for conditions a test cannot be told about (a file appears, a port opens)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

POLL_INTERVAL = 0.05


async def until(condition: Callable[[], bool], attempts: int = 600) -> None:
    """Wait until ``condition()`` holds; fail (not a timing assertion) if it never does."""
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(POLL_INTERVAL)
    raise AssertionError("condition never became true")


def text(path: Path) -> str:
    """The file's text, or "" while it does not exist yet."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
