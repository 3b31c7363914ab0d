"""Tasks in images pulled from a real ``docker-registry`` on loopback (htpasswd auth), run
by a real agent subprocess over HTTP: no Docker daemon anywhere once the image is pushed
(``oci.push`` feeds the registry with Python alone)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.agent.calls import kill
from tests.agent.conftest import (
    TERMINAL,
    RunningAgent,
    kill_leftovers,
    polled,
    start_agent,
    stop_agent,
)
from tests.docker.registry import Registry
from tests.images import oci
from tests.images.run_harness import IMAGE_FLAGS, mounts_below, unmount_below

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running images needs root")

MakeAgent = Callable[..., Any]


@pytest.fixture
async def make_agent(tmp_path: Path, image_registry: Registry) -> AsyncIterator[MakeAgent]:
    """Agents with images enabled, pulling from the test registry; stopped at the end."""
    started: list[RunningAgent] = []
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    registry_flags = (
        f"--docker_registry=http://{image_registry.address}",
        f"--docker_config={json.dumps(image_registry.config_json())}",
    )

    async def make(*flags: str, work_dir: Path | None = None) -> RunningAgent:
        work = work_dir or tmp_path / "work"
        log = tmp_path / f"agent-{len(started)}.log"
        given = flags or (*IMAGE_FLAGS, *registry_flags)
        process, url = await asyncio.to_thread(
            start_agent, work, log, "--containerizers=mesos", *given
        )
        agent = RunningAgent(process, url, work, session, None, log)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        if agent.process.poll() is None:
            try:
                for task_id, task in (await agent.tasks()).items():
                    if task["state"] not in TERMINAL:
                        await agent.call(kill(task_id))
                        await agent.wait_for_state(task_id, *TERMINAL)
            finally:
                stop_agent(agent.process)
    await session.close()
    for agent in started:
        kill_leftovers(agent.work_dir)
        unmount_below(agent.work_dir)


def in_image(task_id: str, reference: str, **extra: Any) -> dict[str, Any]:
    """``LAUNCH_TASK`` of a task running its image's default command."""
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"shell": False},
        "container": {
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": reference}}},
        },
        **extra,
    }
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}


def rootfs_dirs(work_dir: Path) -> list[Path]:
    return list((work_dir / "meta/plugins/mesos/images/containers").iterdir())


@pytest.mark.parametrize(
    "compression",
    [["gzip"] * 3, ["gzip", "zstd", "zstd"], ["zstd"] * 3],
    ids=["gzip", "zstd-over-a-gzip-base", "zstd"],
)
async def test_a_multi_layer_image_runs_its_default_cmd_with_deletions_applied(
    make_agent, push, busybox_layer, compression
):
    upper = oci.tar_layer(
        [
            oci.file("etc/kept", "kept\n"),
            oci.file("etc/doomed", "doomed\n"),
            oci.directory("data"),
            oci.file("data/old", "old\n"),
        ]
    )
    top = oci.tar_layer([oci.whiteout("etc/doomed"), oci.opaque("data"), oci.file("data/new", "")])
    config = {"Cmd": ["sh", "-c", "ls /etc /data; cat /etc/kept"], "Env": ["PATH=/bin"]}
    reference = push(oci.image([busybox_layer, upper, top], config, compression=compression))
    agent: RunningAgent = await make_agent()
    name = reference.rsplit("/", 1)[-1].replace(":", "-")
    await agent.call(in_image(name, reference))
    task = await agent.wait_for_state(name, *TERMINAL)
    stdout = (Path(task["sandbox_directory"]) / "stdout").read_text().split()
    assert task["state"] == "TASK_FINISHED", (
        Path(task["sandbox_directory"]) / "stderr"
    ).read_text()
    assert "kept" in stdout
    assert "new" in stdout
    assert "doomed" not in stdout
    assert "old" not in stdout
    assert rootfs_dirs(agent.work_dir) == []
    assert mounts_below(agent.work_dir) == []


async def test_an_image_task_is_refused_without_the_flags_naming_them(
    make_agent, push, busybox_layer
):
    reference = push(oci.image([busybox_layer]))
    agent: RunningAgent = await make_agent("--isolation=posix/cpu,posix/mem")
    await agent.call(in_image("refused", reference))
    task = await agent.wait_for_state("refused", *TERMINAL)
    message = task["statuses"][-1]["message"]
    assert task["state"] == "TASK_FAILED"
    assert "--image_providers=docker" in message
    assert "filesystem/linux,docker/runtime" in message


async def test_an_image_task_survives_an_agent_sigkill_and_reports_its_real_exit(
    make_agent, push, busybox_layer
):
    script = (
        "echo > /mnt/mesos/sandbox/ready; "
        "until [ -e /mnt/mesos/sandbox/go ]; do sleep 0.02; done; exit 3"
    )
    reference = push(oci.image([busybox_layer], {"Entrypoint": ["sh", "-c", script]}))
    agent: RunningAgent = await make_agent()
    await agent.call(in_image("survivor", reference))
    running = await agent.wait_for_state("survivor", "TASK_RUNNING")
    sandbox = Path(running["sandbox_directory"])
    stop_agent(agent.process, signal.SIGKILL)

    (sandbox / "go").touch()  # the task ends while no agent runs
    restarted: RunningAgent = await make_agent(work_dir=agent.work_dir)
    task = await restarted.wait_for_state("survivor", *TERMINAL)
    assert task["state"] == "TASK_FAILED"
    assert task["statuses"][-1]["message"] == "Command exited with status 3"
    assert (sandbox / "ready").exists()
    assert rootfs_dirs(agent.work_dir) == []
    assert mounts_below(agent.work_dir) == []


async def test_a_command_health_check_runs_inside_the_image(make_agent, push, busybox_layer):
    marked = oci.tar_layer([oci.file("etc/only-in-the-image", "yes\n")])
    reference = push(oci.image([busybox_layer, marked], {"Cmd": ["sleep", "60"]}))
    agent: RunningAgent = await make_agent()
    check = {
        "type": "COMMAND",
        "command": {"value": "test -f /etc/only-in-the-image"},
        "delay_seconds": 0,
        "interval_seconds": 0.2,
        "grace_period_seconds": 10,
    }
    await agent.call(in_image("checked", reference, health_check=check))
    await agent.wait_for_state("checked", "TASK_RUNNING")

    async def healthy() -> bool:  # no event announces it before TASK_RUNNING(healthy)
        statuses = (await agent.tasks())["checked"]["statuses"]
        return any(status.get("healthy") for status in statuses)

    await polled(healthy)
    await agent.call(kill("checked"))
    task = await agent.wait_for_state("checked", *TERMINAL)
    assert task["state"] == "TASK_KILLED"
