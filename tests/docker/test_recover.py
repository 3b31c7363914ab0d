"""Agent restarts: reattach, exits and output produced while down, orphans, removal delay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from docker import APIClient
from docker.errors import NotFound
from dockyard.containers import RecoveredContainer
from dockyard.messages import TaskState
from dockyard_docker import naming

from tests.docker.configs import TEST_LABEL, TEST_LABEL_VALUE, task_config
from tests.docker.crashing_agent import run_until_killed
from tests.docker.waiting import text, until

REPO_ROOT = Path(__file__).resolve().parents[2]


def exists(api: APIClient, docker_id: str) -> bool:
    try:
        api.inspect_container(docker_id)
    except NotFound:
        return False
    return True


@pytest.fixture
def foreign(docker_api: APIClient, busybox_image: str) -> Iterator[Callable[[str], str]]:
    """Starts containers dockyard did not start; removes them after the test."""
    created: list[str] = []

    def start(name: str) -> str:
        container = docker_api.create_container(
            busybox_image,
            ["sleep", "1000"],
            name=name,
            labels={TEST_LABEL: TEST_LABEL_VALUE},
        )
        created.append(container["Id"])
        docker_api.start(container["Id"])
        return str(container["Id"])

    yield start
    for docker_id in created:
        docker_api.remove_container(docker_id, force=True)


async def test_restart_reattaches_reports_exits_and_removes_only_own_orphans(
    agents, busybox_image, tmp_path, docker_api, foreign
):
    first = await agents.start()
    agent_id = first.agent_id
    running = task_config(tmp_path / "running", busybox_image, "echo one; exec sleep 1000")
    ending = task_config(
        tmp_path / "ending",
        busybox_image,
        "echo before; while [ ! -f $MESOS_SANDBOX/go ]; do sleep 0.05; done; echo after; exit 4",
    )
    orphan = task_config(tmp_path / "orphan", busybox_image, "exec sleep 1000")
    handles = {}
    for config in (running, ending, orphan):
        await first.plugin.prepare(config)
        handles[config.container_id.value] = (await first.plugin.launch(config)).handle
    other_agent = await agents.start()
    neighbour = task_config(tmp_path / "neighbour", busybox_image, "exec sleep 1000")
    await other_agent.plugin.prepare(neighbour)
    await other_agent.plugin.launch(neighbour)
    suffix = uuid.uuid4().hex[:8]
    malformed = foreign(f"mesos-malformed-{suffix}")
    lookalike = foreign(naming.container_name(agent_id, str(uuid.uuid4())))  # no labels
    await until(lambda: text(tmp_path / "running" / "stdout") == "one\n")
    await until(lambda: text(tmp_path / "ending" / "stdout") == "before\n")

    await agents.stop(first)
    (tmp_path / "ending" / "go").touch()
    ending_id = handles[ending.container_id.value]["docker_id"]
    await asyncio.to_thread(docker_api.wait, ending_id)

    second = await agents.start(agent_id=agent_id)
    recovered = await second.plugin.recover(
        [
            RecoveredContainer(config=config, handle=handles[config.container_id.value])
            for config in (running, ending)
        ]
    )
    assert {c.value for c in recovered} == {running.container_id.value, ending.container_id.value}

    ended = await second.plugin.wait(ending.container_id)
    assert ended is not None
    assert ended.state == TaskState.TASK_FAILED
    assert ended.message == "Container exited with status 4"
    assert (tmp_path / "ending" / "stdout").read_text() == "before\nafter\n"

    assert not exists(docker_api, handles[orphan.container_id.value]["docker_id"])
    for foreign in (malformed, lookalike):
        assert docker_api.inspect_container(foreign)["State"]["Running"]
    assert (await other_agent.plugin.usage(neighbour.container_id)) is not None

    killed = await second.plugin.destroy(running.container_id, timedelta(0))
    assert killed is not None
    assert killed.state == TaskState.TASK_KILLED
    assert (tmp_path / "running" / "stdout").read_text() == "one\n"


async def test_orphans_stay_with_docker_kill_orphans_false(
    agents, busybox_image, tmp_path, docker_api
):
    first = await agents.start()
    orphan = task_config(tmp_path, busybox_image, "exec sleep 1000")
    await first.plugin.prepare(orphan)
    docker_id = (await first.plugin.launch(orphan)).handle["docker_id"]
    await agents.stop(first)
    second = await agents.start("--no-docker_kill_orphans", agent_id=first.agent_id)
    assert await second.plugin.recover([]) == []
    assert exists(docker_api, docker_id)


async def test_a_container_gone_while_down_is_not_recovered(
    agents, busybox_image, tmp_path, docker_api
):
    first = await agents.start()
    config = task_config(tmp_path, busybox_image, "exec sleep 1000")
    await first.plugin.prepare(config)
    handle = (await first.plugin.launch(config)).handle
    await agents.stop(first)
    docker_api.remove_container(handle["docker_id"], force=True)
    second = await agents.start(agent_id=first.agent_id)
    assert await second.plugin.recover([RecoveredContainer(config=config, handle=handle)]) == []
    assert await second.plugin.wait(config.container_id) is None


async def test_agent_sigkill_loses_and_duplicates_no_output(
    agents, busybox_image, tmp_path, docker_api
):
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    agents.agent_ids.add(agent_id)
    sandbox = tmp_path / "chatty"
    sandbox.mkdir()
    container_id = str(uuid.uuid4())
    command = (
        "i=0; while [ $i -lt 60 ]; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.02; "
        "done; while [ ! -f $MESOS_SANDBOX/go ]; do sleep 0.05; done; echo last; exit 0"
    )
    spec = {
        "agent_id": agent_id,
        "work_dir": str(agents.work_dir),
        "image": busybox_image,
        "containers": [{"container_id": container_id, "sandbox": str(sandbox), "command": command}],
    }
    handles = await run_until_killed(
        spec, lambda: until(lambda: "out 10\n" in text(sandbox / "stdout"))
    )
    (sandbox / "go").touch()
    await asyncio.to_thread(docker_api.wait, handles[container_id]["docker_id"])

    agent = await agents.start(agent_id=agent_id)
    config = task_config(sandbox, busybox_image, command, container_id=container_id)
    recovered = await agent.plugin.recover(
        [RecoveredContainer(config=config, handle=handles[container_id])]
    )
    assert [c.value for c in recovered] == [container_id]
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED
    expected = "".join(f"out {i}\n" for i in range(60)) + "last\n"
    assert (sandbox / "stdout").read_text() == expected
    assert (sandbox / "stderr").read_text() == "".join(f"err {i}\n" for i in range(60))


async def test_removal_after_the_delay_survives_a_restart(
    agents, busybox_image, tmp_path, docker_api
):
    first = await agents.start("--docker_remove_delay=1secs")
    config = task_config(tmp_path, busybox_image, "true")
    await first.plugin.prepare(config)
    docker_id = (await first.plugin.launch(config)).handle["docker_id"]
    await first.plugin.wait(config.container_id)
    await agents.stop(first)
    assert exists(docker_api, docker_id)
    await agents.start("--docker_remove_delay=1secs", agent_id=first.agent_id)
    await until(lambda: not exists(docker_api, docker_id))


async def test_a_removed_container_still_answers_wait_until_it_is_forgotten(
    agents, busybox_image, tmp_path, docker_api
):
    """The Engine container may be removed before the core records its end
    (``--docker_remove_delay=0secs``); ``wait`` must answer until ``forget``."""
    agent = await agents.start("--docker_remove_delay=0secs")
    config = task_config(tmp_path, busybox_image, "exit 3")
    await agent.plugin.prepare(config)
    docker_id = (await agent.plugin.launch(config)).handle["docker_id"]
    ended = await agent.plugin.wait(config.container_id)
    await until(lambda: not exists(docker_api, docker_id))
    assert await agent.plugin.wait(config.container_id) == ended
    assert await agent.plugin.destroy(config.container_id, timedelta(0)) == ended
    await agent.plugin.forget(config.container_id)
    assert await agent.plugin.wait(config.container_id) is None


async def test_a_restarted_agent_never_appends_output_through_a_planted_link(
    agents, busybox_image, tmp_path, docker_api
):
    """The container replaces its ``stdout`` with a link to a host file while the agent is
    down; the next agent does not follow it (it would append as root to any file)."""
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    first = await agents.start()
    sandbox = tmp_path / "planter"
    command = (
        "echo before; while [ ! -f $MESOS_SANDBOX/go ]; do sleep 0.05; done; "
        f"rm $MESOS_SANDBOX/stdout; ln -s {victim} $MESOS_SANDBOX/stdout; echo after; exit 0"
    )
    config = task_config(sandbox, busybox_image, command)
    await first.plugin.prepare(config)
    handle = (await first.plugin.launch(config)).handle
    await until(lambda: text(sandbox / "stdout") == "before\n")
    await agents.stop(first)
    (sandbox / "go").touch()
    await asyncio.to_thread(docker_api.wait, handle["docker_id"])

    second = await agents.start(agent_id=first.agent_id)
    recovered = await second.plugin.recover([RecoveredContainer(config=config, handle=handle)])
    assert [c.value for c in recovered] == [config.container_id.value]
    termination = await second.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED
    assert victim.read_text() == "untouched\n"
    assert (sandbox / "stdout").is_symlink(), "the agent left the container's link alone"
