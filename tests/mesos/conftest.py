"""Fixtures for the mesos containerizer: a started plugin on a private work dir.

Every fixture cleans up what the test created (tasks, supervisor, cgroups) even when the
test fails, by reading the supervisor's records rather than trusting the plugin.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from dockyard_mesos.plugin import MesosContainerizer

from tests.mesos.harness import clean_up, make_context

StartContainerizer = Callable[..., Awaitable[MesosContainerizer]]


@pytest.fixture
def agent_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def work_dir(tmp_path: Path, agent_id: str) -> Iterator[Path]:
    work = tmp_path / "work"
    work.mkdir()
    yield work
    clean_up(work, agent_id)


@pytest.fixture
async def start_containerizer(work_dir: Path, agent_id: str) -> AsyncIterator[StartContainerizer]:
    """Start a plugin instance with extra agent flags; stopped at the end of the test."""
    started: list[MesosContainerizer] = []

    async def start(*argv: str) -> MesosContainerizer:
        containerizer = MesosContainerizer()
        await containerizer.start(make_context(work_dir, agent_id, *argv))
        started.append(containerizer)
        return containerizer

    yield start
    for containerizer in started:
        await containerizer.stop()


@pytest.fixture
async def mesos(start_containerizer: StartContainerizer) -> MesosContainerizer:
    return await start_containerizer()


@pytest.fixture
def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
