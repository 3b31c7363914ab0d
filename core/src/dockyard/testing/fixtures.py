"""The pytest fixtures of ``dockyard.testing`` (loaded by ``-p dockyard.testing``).

Override ``dockyard_containerizers`` (and ``dockyard_fetchers``, ``dockyard_flags``)
in your ``conftest.py`` to choose what the agent runs; the rest builds on them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from dockyard.containers import ContainerConfig
from dockyard.host import PluginHost
from dockyard.messages import CommandInfo, TaskInfo
from dockyard.testing.driver import DEFAULT_TIMEOUT, AgentDriver
from dockyard.testing.factories import container_config, task_info
from dockyard.testing.plugins import make_host
from dockyard.testing.recorder import HookRecorder
from dockyard.testing.sweeper import ProcessSweeper


@pytest.fixture
def dockyard_containerizers() -> Mapping[str, object]:
    """Override: the containerizers to run, ``{"name": plugin_instance}``, in order."""
    pytest.fail(
        "dockyard.testing: define a `dockyard_containerizers` fixture returning "
        '{"<entry-point name>": YourContainerizer()}',
        pytrace=False,
    )


@pytest.fixture
def dockyard_fetchers() -> Mapping[str, object]:
    """Override: the fetcher plugins, ``{"name": plugin}``; none by default."""
    return {}


@pytest.fixture
def dockyard_flags() -> Sequence[str]:
    """Override: extra agent flags, e.g. ``["--executor_shutdown_grace_period=1secs"]``."""
    return []


@pytest.fixture
def dockyard_timeout() -> float:
    """Override: seconds any wait may take before the test fails."""
    return DEFAULT_TIMEOUT


@pytest.fixture
def dockyard_work_dir(tmp_path: Path) -> Path:
    """The agent's ``--work_dir``, empty and private to the test."""
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    return work_dir


@pytest.fixture
def dockyard_sandbox(tmp_path: Path) -> Path:
    """An empty sandbox directory, for calling a plugin's hooks directly."""
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    return sandbox


@pytest.fixture
def dockyard_host(
    dockyard_containerizers: Mapping[str, object], dockyard_fetchers: Mapping[str, object]
) -> PluginHost:
    """A plugin host with only the given plugins registered (not started)."""
    return make_host(dockyard_containerizers, dockyard_fetchers)


@pytest_asyncio.fixture
async def dockyard_agent(
    dockyard_work_dir: Path,
    dockyard_containerizers: Mapping[str, object],
    dockyard_fetchers: Mapping[str, object],
    dockyard_flags: Sequence[str],
    dockyard_timeout: float,
) -> AsyncIterator[AgentDriver]:
    """A started in-process agent; its tasks are killed and it is stopped afterwards, then
    every process the test started and its plugin lost is killed (:class:`ProcessSweeper`)."""
    async with (
        ProcessSweeper(),
        AgentDriver(
            dockyard_work_dir,
            dockyard_containerizers,
            dockyard_fetchers,
            flags=dockyard_flags,
            timeout=dockyard_timeout,
        ) as driver,
    ):
        yield driver


@pytest.fixture
def dockyard_recorder(dockyard_agent: AgentDriver) -> HookRecorder:
    """The hook calls made by ``dockyard_agent`` since it was created."""
    return dockyard_agent.recorder


@pytest.fixture
def make_task() -> Callable[..., TaskInfo]:
    """:func:`dockyard.testing.factories.task_info`: ``make_task("echo hi", task_id="t1")``."""
    return task_info


@pytest.fixture
def make_container_config(dockyard_sandbox: Path) -> Callable[..., ContainerConfig]:
    """:func:`~dockyard.testing.factories.container_config` in ``dockyard_sandbox``."""

    def make(command: str | CommandInfo, **fields: Any) -> ContainerConfig:
        fields.setdefault("sandbox", dockyard_sandbox)
        return container_config(command, **fields)

    return make
