"""Stopping containers: signal, grace to the millisecond, SIGKILL; OOM; KILL_CONTAINER."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from dockyard.messages import Reason, TaskState
from dockyard_docker import naming

from tests.docker.configs import scalar, task_config
from tests.docker.waiting import until

TRAPS_TERM = (
    "trap 'echo got TERM; exit 7' TERM; echo ready > $MESOS_SANDBOX/ready; "
    "while true; do sleep 0.05; done"
)


def own_labels(agent, config) -> list[str]:
    """The labels of this test's container: its agent's id and its ContainerID."""
    return [
        f"{naming.AGENT_LABEL}={agent.agent_id}",
        f"{naming.CONTAINER_LABEL}={config.container_id.value}",
    ]


async def launch_and_wait_ready(plugin, config) -> None:
    await plugin.prepare(config)
    await plugin.launch(config)
    await until((config.sandbox / "ready").exists)


async def test_destroy_sends_sigterm_and_the_task_is_killed(agent, busybox_image, tmp_path):
    config = task_config(tmp_path, busybox_image, TRAPS_TERM)
    await launch_and_wait_ready(agent.plugin, config)
    termination = await agent.plugin.destroy(config.container_id, timedelta(seconds=30))
    assert termination is not None
    assert termination.state == TaskState.TASK_KILLED
    assert termination.message == "Container exited with status 7"
    assert (tmp_path / "stdout").read_text() == "got TERM\n"
    assert await agent.plugin.wait(config.container_id) == termination


async def test_sigkill_follows_a_sub_second_grace(agent, busybox_image, tmp_path):
    # PID 1 without a TERM handler ignores SIGTERM: only the SIGKILL after the grace ends it.
    config = task_config(
        tmp_path, busybox_image, "echo ready > $MESOS_SANDBOX/ready; exec sleep 1000"
    )
    await launch_and_wait_ready(agent.plugin, config)
    termination = await agent.plugin.destroy(config.container_id, timedelta(milliseconds=200))
    assert termination is not None
    assert termination.state == TaskState.TASK_KILLED
    assert termination.message == "Container exited with status 137"


async def test_kill_policy_grace_is_the_default(agent, busybox_image, tmp_path):
    config = task_config(
        tmp_path, busybox_image, TRAPS_TERM, kill_grace=timedelta(milliseconds=1500)
    )
    await launch_and_wait_ready(agent.plugin, config)
    termination = await agent.plugin.destroy(config.container_id, None)
    assert termination is not None
    assert termination.message == "Container exited with status 7"


async def test_destroy_of_an_ended_container_returns_its_termination(
    agent, busybox_image, tmp_path
):
    config = task_config(tmp_path, busybox_image, "exit 5")
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    ended = await agent.plugin.wait(config.container_id)
    assert await agent.plugin.destroy(config.container_id, None) == ended
    assert await agent.plugin.kill(config.container_id, 9) is False


async def test_kill_sends_any_signal(agent, busybox_image, tmp_path):
    config = task_config(
        tmp_path,
        busybox_image,
        "trap 'echo got USR1; exit 0' USR1; echo ready > $MESOS_SANDBOX/ready; "
        "while true; do sleep 0.05; done",
    )
    await launch_and_wait_ready(agent.plugin, config)
    assert await agent.plugin.kill(config.container_id, 10) is True
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED
    assert (tmp_path / "stdout").read_text() == "got USR1\n"


@pytest.mark.parametrize("grace", [None, timedelta(0)])
async def test_destroy_while_pulling_ends_without_a_container(agent, tmp_path, grace):
    # An image from an address where nothing listens: the pull cannot finish before destroy.
    config = task_config(tmp_path, "127.0.0.1:9/never/there:1", "true")
    pulling = asyncio.ensure_future(agent.plugin.prepare(config))
    await asyncio.sleep(0)
    termination = await agent.plugin.destroy(config.container_id, grace)
    pulling.cancel()
    assert termination is not None
    assert termination.message == "Container destroyed while pulling image"
    with pytest.raises((asyncio.CancelledError, Exception)):
        await pulling


async def test_oom_kill_is_a_memory_limitation(agent, busybox_image, tmp_path):
    config = task_config(
        tmp_path,
        busybox_image,
        "a=$(head -c 300000000 /dev/zero | tr '\\0' x); echo survived",
        resources=[scalar("cpus", 0.1), scalar("mem", 32)],
    )
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FAILED
    assert termination.reason == Reason.REASON_CONTAINER_LIMITATION_MEMORY
    assert "survived" not in (tmp_path / "stdout").read_text()


async def test_the_containers_stop_signal_is_used(agent, busybox_image, tmp_path):
    config = task_config(
        tmp_path,
        busybox_image,
        "trap 'echo got USR1; exit 0' USR1; echo ready > $MESOS_SANDBOX/ready; "
        "while true; do sleep 0.05; done",
        parameters={"stop-signal": "SIGUSR1"},
    )
    await launch_and_wait_ready(agent.plugin, config)
    termination = await agent.plugin.destroy(config.container_id, timedelta(seconds=30))
    assert termination is not None
    assert termination.state == TaskState.TASK_KILLED
    assert (tmp_path / "stdout").read_text() == "got USR1\n"


async def test_destroy_during_launch_leaves_no_container(
    agent, busybox_image, tmp_path, docker_api
):
    config = task_config(tmp_path, busybox_image, "exec sleep 1000")
    await agent.plugin.prepare(config)
    launching = asyncio.ensure_future(agent.plugin.launch(config))
    await asyncio.sleep(0)
    launching.cancel()  # what the core does when a kill arrives mid-launch
    with pytest.raises(asyncio.CancelledError):
        await launching
    assert await agent.plugin.destroy(config.container_id, timedelta(0)) is not None
    labels = own_labels(agent, config)
    await until(lambda: not docker_api.containers(all=True, filters={"label": labels}))


async def test_usage_reports_engine_statistics(agent, busybox_image, tmp_path):
    config = task_config(
        tmp_path,
        busybox_image,
        "echo ready > $MESOS_SANDBOX/ready; sleep 1000",
        resources=[scalar("cpus", 0.1), scalar("mem", 64)],
    )
    await launch_and_wait_ready(agent.plugin, config)
    usage = await agent.plugin.usage(config.container_id)
    assert usage is not None
    assert usage.mem_limit_bytes == 64 * 1024 * 1024
    assert usage.cpus_user_time_secs is not None
    await agent.plugin.destroy(config.container_id, timedelta(0))


async def test_a_container_without_readable_logs_still_ends(agent, busybox_image, tmp_path):
    config = task_config(
        tmp_path, busybox_image, "echo lost; exit 2", parameters={"log-driver": "none"}
    )
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.message == "Container exited with status 2"


async def test_exits_are_seen_after_the_events_stream_breaks(
    agent, busybox_image, tmp_path, docker_api
):
    config = task_config(tmp_path, busybox_image, "echo ready > $MESOS_SANDBOX/ready; sleep 1000")
    await launch_and_wait_ready(agent.plugin, config)
    agent.plugin._started().watcher.break_stream()  # as when the daemon restarts
    (container,) = docker_api.containers(filters={"label": own_labels(agent, config)})
    docker_api.kill(container["Id"])
    async with asyncio.timeout(60):  # a watcher that never reconnects fails, not hangs
        termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.message == "Container exited with status 137"
