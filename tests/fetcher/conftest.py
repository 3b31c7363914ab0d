"""Fixtures of the fetcher tests (helpers live in ``harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dockyard_fetcher.plugin import FetcherPlugin

from tests.fetcher.harness import Origin, Sandboxes, make_app, started_plugin
from tests.loopback import loopback_port, serve_on_loopback


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    origin = Origin()
    runner = await serve_on_loopback(make_app(origin), shutdown_timeout=0.1)
    origin.base = f"http://127.0.0.1:{loopback_port(runner)}"
    yield origin
    origin.release_stall.set()
    origin.gate.set()
    await runner.cleanup()


@pytest.fixture
async def fetcher(tmp_path: Path) -> AsyncIterator[FetcherPlugin]:
    plugin = await started_plugin(tmp_path)
    yield plugin
    await plugin.stop()


@pytest.fixture
def sandboxes(tmp_path: Path) -> Sandboxes:
    return Sandboxes(tmp_path / "sandboxes")
