"""Pulls as streams: destroy cancels the Engine's pull unless another launch still wants it,
and progress reaches ``watch_progress`` front ends."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from docker import APIClient
from docker.errors import ImageNotFound
from dockyard.containers import LaunchError
from dockyard.messages import TaskState

from tests.docker.configs import task_config
from tests.docker.conftest import Agents
from tests.docker.slow_registry import Blobs, SlowRegistry, serve
from tests.docker.waiting import until

TRICKLE = 0.1
"""Seconds between chunks of a layer: the rest of it takes well over a second."""
MakeRegistry = Callable[..., Awaitable[SlowRegistry]]


def present(api: APIClient, reference: str) -> bool:
    return bool(api.images(name=reference))


@pytest.fixture
async def slow_registry(agents: Agents, docker_api: APIClient) -> AsyncIterator[MakeRegistry]:
    """Starts slow registries, each serving a new one-layer image; afterwards the test's
    containers go, then the registries and every image pulled from them."""
    architecture = docker_api.version()["Arch"]
    started: list[tuple[SlowRegistry, object]] = []

    async def make(*, delay: float = 0.0, stall: bool = False) -> SlowRegistry:
        registry = SlowRegistry(Blobs.build(architecture), delay=delay, stall=stall)
        started.append((registry, await serve(registry)))
        return registry

    yield make
    await agents.close()
    for registry, runner in started:
        registry.released.set()
        await runner.cleanup()  # type: ignore[attr-defined]
        with contextlib.suppress(ImageNotFound):
            docker_api.remove_image(registry.reference, force=True)


async def test_destroy_during_a_pull_cancels_it_in_the_engine(
    agent, slow_registry, docker_api, tmp_path
):
    registry = await slow_registry(stall=True, delay=TRICKLE)
    config = task_config(tmp_path, registry.reference, "true")
    preparing = asyncio.ensure_future(agent.plugin.prepare(config))
    await registry.stalled.wait()  # the Engine is half-way through the layer
    termination = await agent.plugin.destroy(config.container_id, None)
    assert termination is not None
    assert termination.message == "Container destroyed while pulling image"
    with pytest.raises(LaunchError, match="destroyed while pulling"):
        await preparing
    registry.released.set()
    await until(registry.hung_up.is_set)  # the Engine gave the download up
    assert not present(docker_api, registry.reference)


async def test_a_pull_another_launch_waits_for_goes_on(agent, slow_registry, tmp_path):
    registry = await slow_registry(stall=True)
    destroyed = task_config(tmp_path / "destroyed", registry.reference, "true")
    kept = task_config(tmp_path / "kept", registry.reference, "echo pulled")
    preparing = [asyncio.ensure_future(agent.plugin.prepare(c)) for c in (destroyed, kept)]
    await registry.stalled.wait()
    await agent.plugin.destroy(destroyed.container_id, None)
    with pytest.raises(LaunchError):
        await preparing[0]
    registry.released.set()
    await preparing[1]
    assert not registry.hung_up.is_set()
    await agent.plugin.launch(kept)
    termination = await agent.plugin.wait(kept.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED
    assert (kept.sandbox / "stdout").read_text() == "pulled\n"


async def test_a_cancelled_launch_cancels_its_pull(agent, slow_registry, docker_api, tmp_path):
    """What the core does on a kill during prepare: it cancels the launch, then destroys."""
    registry = await slow_registry(stall=True, delay=TRICKLE)
    config = task_config(tmp_path, registry.reference, "true")
    preparing = asyncio.ensure_future(agent.plugin.prepare(config))
    await registry.stalled.wait()
    preparing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await preparing
    await agent.plugin.destroy(config.container_id, None)
    registry.released.set()
    await until(registry.hung_up.is_set)
    assert not present(docker_api, registry.reference)


async def test_pull_progress_reaches_watch_progress(agent, slow_registry, tmp_path):
    registry = await slow_registry(delay=0.02)
    lines: list[str] = []
    agent.plugin.watch_progress(lines.append)
    config = task_config(tmp_path, registry.reference, "true")
    await agent.plugin.prepare(config)
    pattern = re.compile(
        rf"{re.escape(registry.reference)}  (\d+\.\d)/(\d+\.\d) MiB  (\d+)%\n?", re.ASCII
    )
    assert len(lines) >= 2
    assert all(pattern.fullmatch(line) for line in lines), lines
    final = pattern.fullmatch(lines[-1])
    assert final is not None
    assert lines[-1].endswith("\n")
    assert final.group(1) == final.group(2)
    assert final.group(3) == "100"
    percents = [int(match.group(3)) for match in map(pattern.fullmatch, lines) if match]
    assert percents == sorted(percents)
    assert percents[0] < 100


async def test_no_progress_for_an_image_already_there(agent, busybox_image, tmp_path):
    lines: list[str] = []
    agent.plugin.watch_progress(lines.append)
    await agent.plugin.prepare(task_config(tmp_path, busybox_image, "true"))
    assert lines == []
