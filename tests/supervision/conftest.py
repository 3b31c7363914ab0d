"""Fixtures of the ``dockyard.supervision`` tests: a sweeper for what a test starts, a sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from dockyard.testing.sweeper import ProcessSweeper


@pytest_asyncio.fixture
async def sweeper() -> AsyncIterator[ProcessSweeper]:
    async with ProcessSweeper() as sweeper:
        yield sweeper


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    return sandbox
