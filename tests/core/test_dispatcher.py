"""Which containerizer takes a container, and what happens around a launch."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from dockyard.background import Background
from dockyard.containers import ContainerConfig, LaunchError
from dockyard.dispatcher import (
    DESTROYED_WHILE_LAUNCHING,
    AlreadyLaunchedError,
    Dispatcher,
    NotSupportedError,
    Stage,
)
from dockyard.host import PluginHost
from dockyard.messages import URI, CommandInfo, ContainerID

from .scripted import ScriptedContainerizer, ScriptedFetcher, host_with


def dispatcher_for(host: PluginHost, containerizers: list[str], fetchers: list[str]) -> Dispatcher:
    dispatcher = Dispatcher(host, Background())
    dispatcher.enable(containerizers, fetchers)
    return dispatcher


def config_for(tmp_path: Path, cid: str = "c1", uris: list[str] | None = None) -> ContainerConfig:
    sandbox = tmp_path / cid
    sandbox.mkdir()
    return ContainerConfig(
        container_id=ContainerID(value=cid),
        command=CommandInfo(value="true", uris=[URI(value=u) for u in uris or []]),
        sandbox=sandbox,
    )


async def test_first_accepting_containerizer_in_flag_order_wins(tmp_path: Path) -> None:
    a, b = ScriptedContainerizer(), ScriptedContainerizer()
    dispatcher = dispatcher_for(host_with(a=a, b=b), ["b", "a"], [])
    await dispatcher.launch(config_for(tmp_path))
    assert ("launch", "c1") in b.calls
    assert a.calls == []
    assert dispatcher.containerizer_of(ContainerID(value="c1")) == "b"


async def test_refusal_falls_through_to_the_next(tmp_path: Path) -> None:
    a, b = ScriptedContainerizer(accept=False), ScriptedContainerizer()
    dispatcher = dispatcher_for(host_with(a=a, b=b), ["a", "b"], [])
    await dispatcher.launch(config_for(tmp_path))
    assert a.calls == [("supports", "c1")]
    assert ("launch", "c1") in b.calls


async def test_no_containerizer_accepts_names_each_with_its_reason(tmp_path: Path) -> None:
    a = ScriptedContainerizer(accept=False, refusal="needs DOCKER")
    b = ScriptedContainerizer(accept=False, refusal="needs MESOS")
    dispatcher = dispatcher_for(host_with(a=a, b=b), ["a", "b"], [])
    with pytest.raises(NotSupportedError) as caught:
        await dispatcher.launch(config_for(tmp_path))
    assert "(a, b)" in str(caught.value)
    assert "a: needs DOCKER; b: needs MESOS" in str(caught.value)
    assert dispatcher.containers() == []


async def test_launch_failure_does_not_fall_through(tmp_path: Path) -> None:
    a, b = ScriptedContainerizer(launch_error="boom"), ScriptedContainerizer()
    dispatcher = dispatcher_for(host_with(a=a, b=b), ["a", "b"], [])
    with pytest.raises(LaunchError, match="boom"):
        await dispatcher.launch(config_for(tmp_path))
    assert b.calls == []
    assert ("destroy", "c1") in a.calls, "a failed launch is cleaned up by its containerizer"
    assert dispatcher.containers() == []


async def test_duplicate_container_id_is_already_launched(tmp_path: Path) -> None:
    dispatcher = dispatcher_for(host_with(a=ScriptedContainerizer()), ["a"], [])
    config = config_for(tmp_path)
    await dispatcher.launch(config)
    with pytest.raises(AlreadyLaunchedError):
        await dispatcher.launch(config)


async def test_wait_and_destroy_of_unknown_container_return_none() -> None:
    dispatcher = dispatcher_for(host_with(a=ScriptedContainerizer()), ["a"], [])
    unknown = ContainerID(value="nope")
    assert await dispatcher.wait(unknown) is None
    assert await dispatcher.destroy(unknown, None) is None
    assert await dispatcher.kill(unknown, 9) is False


async def test_wait_returns_termination_and_forgets_the_container(tmp_path: Path) -> None:
    a = ScriptedContainerizer()
    dispatcher = dispatcher_for(host_with(a=a), ["a"], [])
    await dispatcher.launch(config_for(tmp_path))
    waiters = [asyncio.create_task(dispatcher.wait(ContainerID(value="c1"))) for _ in range(3)]
    await asyncio.sleep(0)
    a.finish("c1", 3 << 8)
    terminations = await asyncio.gather(*waiters)
    assert {t.status for t in terminations if t} == {3 << 8}
    await asyncio.sleep(0)
    assert dispatcher.containers() == []


async def test_destroy_while_preparing_cancels_the_launch_and_leaks_nothing(tmp_path: Path) -> None:
    a = ScriptedContainerizer(block_prepare=True)
    dispatcher = dispatcher_for(host_with(a=a), ["a"], [])
    launching = asyncio.create_task(dispatcher.launch(config_for(tmp_path)))
    await a.preparing.wait()
    termination = await dispatcher.destroy(ContainerID(value="c1"), timedelta(seconds=1))
    with pytest.raises(LaunchError, match=DESTROYED_WHILE_LAUNCHING):
        await launching
    assert a.prepare_cancelled
    assert ("launch", "c1") not in a.calls
    assert ("destroy", "c1") in a.calls
    assert termination is not None
    assert dispatcher.containers() == []


async def test_destroy_passes_the_grace_period(tmp_path: Path) -> None:
    a = ScriptedContainerizer()
    dispatcher = dispatcher_for(host_with(a=a), ["a"], [])
    await dispatcher.launch(config_for(tmp_path))
    termination = await dispatcher.destroy(ContainerID(value="c1"), timedelta(milliseconds=1500))
    assert termination is not None
    assert termination.status == 15
    assert a.destroy_grace == [timedelta(milliseconds=1500)]


async def test_uris_are_fetched_before_prepare_in_order(tmp_path: Path) -> None:
    a, fetcher = ScriptedContainerizer(), ScriptedFetcher()
    dispatcher = dispatcher_for(host_with(a=a, f=fetcher), ["a"], ["f"])
    stages: list[Stage] = []

    async def observe(stage: Stage, name: str) -> None:
        stages.append(stage)

    uris = ["http://127.0.0.1/one", "http://127.0.0.1/two"]
    await dispatcher.launch(config_for(tmp_path, uris=uris), observe)
    assert fetcher.fetched == uris
    assert stages == [Stage.SELECTED, Stage.FETCHED, Stage.PREPARED]


async def test_uris_without_a_fetcher_fail_the_launch(tmp_path: Path) -> None:
    dispatcher = dispatcher_for(host_with(a=ScriptedContainerizer()), ["a"], [])
    with pytest.raises(LaunchError, match=r"Failed to fetch 'http://127\.0\.0\.1/x': no fetcher"):
        await dispatcher.launch(config_for(tmp_path, uris=["http://127.0.0.1/x"]))
