"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from stevedore import ExtensionManager

TESTS = Path(__file__).parent
SAMPLE_PLUGINS = TESTS / "sample_plugins"
BROKEN_PLUGINS = TESTS / "broken_plugins"
SAMPLE_FETCHERS = TESTS / "sample_fetchers"
"""A third-party fetcher of ``data:`` URIs, and an ``s3`` scheme handler over a folder."""


@pytest.fixture
def install_plugins(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make the distributions in a folder discoverable, here and in child processes."""

    def install(folder: Path) -> None:
        # stevedore memoises entry points per group for the life of the process.
        monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {})
        monkeypatch.syspath_prepend(str(folder))
        current = os.environ.get("PYTHONPATH")
        monkeypatch.setenv(
            "PYTHONPATH", f"{folder}{os.pathsep}{current}" if current else str(folder)
        )

    return install


@pytest.fixture(scope="session")
def debian_image() -> str:
    """A Debian image with Python 3 (``tests/debian_image.py``); built once, then reused."""
    from .debian_image import debian_python_image
    from .docker_engine import engine_api

    with engine_api() as api:
        return debian_python_image(api)
