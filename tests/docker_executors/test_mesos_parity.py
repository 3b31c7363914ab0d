"""Docker command tasks through a real agent, where Mesos's behaviour is the reference:
usage limits, ``--cgroups_enable_cfs``, sandbox output under ``--switch_user``, orphans.
"""

from __future__ import annotations

import io
import os
import pwd
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import APIClient
from docker.errors import NotFound
from dockyard_docker import naming

from tests.agent.conftest import RunningAgent, stop_agent
from tests.docker.waiting import until

from .conftest import SESSION_LABEL, AgentContainers, StartAgent
from .tasks import command_task, framework

pytest.importorskip("dockyard_docker")

MIB = 1024 * 1024
SLEEP = "exec sleep 600"
BUSY_THEN_SLEEP = (
    "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo > $MESOS_SANDBOX/ready; " + SLEEP
)
"""Runs on the CPU a little (so CFS counts periods), then says so and sleeps."""


def scalar(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


async def launch(agent: RunningAgent, task: dict[str, Any], user: str = "root") -> None:
    body = {"task": task, "framework_info": framework(user=user)}
    response = await agent.call({"type": "LAUNCH_TASK", "launch_task": body})
    assert response.status == 202, await response.text()


async def running(agent: RunningAgent, task_id: str) -> str:
    """The ContainerID of the task, once it runs."""
    task = await agent.wait_for_state(task_id, "TASK_RUNNING", "TASK_FAILED")
    assert task["state"] == "TASK_RUNNING", task["statuses"][-1]
    container_id: str = task["container_id"]["value"]
    return container_id


async def statistics(agent: RunningAgent) -> dict[str, dict[str, Any]]:
    """GET_CONTAINERS' resource statistics by ContainerID."""
    body = await agent.call_json({"type": "GET_CONTAINERS"})
    return {
        entry["container_id"]["value"]: entry["resource_statistics"]
        for entry in body["get_containers"]["containers"]
    }


def limits_of(stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("cpus_limit", "cpus_soft_limit", "mem_limit_bytes", "mem_soft_limit_bytes")
    return {key: stats.get(key) for key in keys}


async def test_usage_states_the_limits_and_cfs_quotas_the_request(
    start_agent: StartAgent, busybox_image: str, agent_containers: AgentContainers
) -> None:
    """Mesos §3.5/§3.8: with --cgroups_enable_cfs a task without a cpus limit gets a quota of
    100 ms x cpus; a limit wins. Usage states requests and limits, whatever the Engine says."""
    agent = await start_agent("--cgroups_enable_cfs")
    requested = [scalar("cpus", 0.5), scalar("mem", 64)]
    task = command_task("requested", BUSY_THEN_SLEEP, busybox_image, resources=requested)
    await launch(agent, task)
    limited = {"cpus": {"value": 1.5}, "mem": {"value": 128}}
    resources = [scalar("cpus", 0.25), scalar("mem", 64)]
    task = command_task("limited", SLEEP, busybox_image, resources=resources, limits=limited)
    await launch(agent, task)
    requested_id = await running(agent, "requested")
    limited_id = await running(agent, "limited")

    host = agent_containers.inspect(requested_id)["HostConfig"]
    assert (host["CpuQuota"], host["CpuPeriod"], host["CpuShares"]) == (50_000, 100_000, 512)
    host = agent_containers.inspect(limited_id)["HostConfig"]
    assert (host["CpuQuota"], host["CpuPeriod"], host["CpuShares"]) == (150_000, 100_000, 256)

    sandbox = Path((await agent.tasks())["requested"]["sandbox_directory"])
    await until((sandbox / "ready").exists)
    stats = await statistics(agent)
    assert limits_of(stats[requested_id]) == {
        "cpus_limit": 0.5,
        "cpus_soft_limit": 0.5,
        "mem_limit_bytes": 64 * MIB,
        "mem_soft_limit_bytes": None,
    }
    assert limits_of(stats[limited_id]) == {
        "cpus_limit": 1.5,
        "cpus_soft_limit": 0.25,
        "mem_limit_bytes": 128 * MIB,
        "mem_soft_limit_bytes": 64 * MIB,
    }
    assert stats[requested_id]["cpus_nr_periods"] > 0, "the quota's CFS statistics are reported"


async def test_without_cfs_a_request_has_no_quota_and_no_hard_cpu_limit(
    start_agent: StartAgent, busybox_image: str, agent_containers: AgentContainers
) -> None:
    agent = await start_agent()
    requested = [scalar("cpus", 0.5), scalar("mem", 64)]
    await launch(agent, command_task("requested", SLEEP, busybox_image, resources=requested))
    container_id = await running(agent, "requested")
    assert agent_containers.inspect(container_id)["HostConfig"]["CpuQuota"] == 0
    assert limits_of((await statistics(agent))[container_id]) == {
        "cpus_limit": None,
        "cpus_soft_limit": 0.5,
        "mem_limit_bytes": 64 * MIB,
        "mem_soft_limit_bytes": None,
    }


@pytest.fixture
def nobody() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("--switch_user needs a root agent")
    return pwd.getpwnam("nobody")


async def test_switch_user_gives_the_sandbox_output_to_the_task_user(
    start_agent: StartAgent, busybox_image: str, nobody: pwd.struct_passwd
) -> None:
    agent = await start_agent()
    await launch(agent, command_task("out", "echo out; echo err >&2", busybox_image), "nobody")
    task = await agent.wait_for_state("out", "TASK_FINISHED", "TASK_FAILED")
    assert task["state"] == "TASK_FINISHED", task["statuses"][-1]
    sandbox = Path(task["sandbox_directory"])
    for name, text in (("stdout", "out\n"), ("stderr", "err\n")):
        info = (sandbox / name).stat()
        assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid), name
        assert (sandbox / name).read_text() == text


@pytest.fixture
def planted_archive() -> Iterator[Path]:
    """A tar whose ``stdout`` is a symbolic link to ``victim``, a file beside it, where
    ``nobody`` can read it (a test's tmp_path is root's only)."""
    with tempfile.TemporaryDirectory(prefix="dockyard-planted-") as directory:
        os.chmod(directory, 0o755)
        path = Path(directory) / "planted.tar"
        write_planted_archive(path)
        path.chmod(0o644)
        yield path


def write_planted_archive(path: Path) -> None:
    with tarfile.open(path, "w") as archive:
        victim = tarfile.TarInfo("victim")
        data = b"untouched\n"
        victim.size = len(data)
        archive.addfile(victim, io.BytesIO(data))
        link = tarfile.TarInfo("stdout")
        link.type, link.linkname = tarfile.SYMTYPE, "victim"
        archive.addfile(link)


async def test_a_planted_stdout_link_fails_the_launch_and_is_never_followed(
    start_agent: StartAgent, busybox_image: str, nobody: pwd.struct_passwd, planted_archive: Path
) -> None:
    """A fetched archive (extracted as the task's user) puts a link where the output goes:
    the root agent neither writes through it nor gives its target away."""
    agent = await start_agent()
    task = command_task("planted", "echo written", busybox_image)
    task["command"]["uris"] = [{"value": str(planted_archive), "extract": True}]
    await launch(agent, task, "nobody")
    ended = await agent.wait_for_state("planted", "TASK_FINISHED", "TASK_FAILED")
    last = ended["statuses"][-1]
    assert (last["state"], last.get("reason")) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED")
    assert "the sandbox's 'stdout'" in last["message"]
    assert "not a plain file" in last["message"]
    sandbox = Path(ended["sandbox_directory"])
    assert (sandbox / "stdout").is_symlink(), "left as it was"
    assert (sandbox / "victim").read_text() == "untouched\n"


def foreign_container(api: APIClient, image: str, agent_id: str) -> str:
    """A running container with another agent's name and labels."""
    container_id = str(uuid.uuid4())
    key, _, value = SESSION_LABEL.partition("=")
    created = api.create_container(
        image,
        ["sleep", "600"],
        name=naming.container_name(agent_id, container_id),
        labels={**naming.ownership_labels(agent_id, container_id, "t"), key: value},
    )
    api.start(created["Id"])
    return str(created["Id"])


def exists(api: APIClient, docker_id: str) -> bool:
    try:
        api.inspect_container(docker_id)
    except NotFound:
        return False
    return True


async def test_a_container_the_ledger_forgot_is_an_orphan_at_the_next_start(
    start_agent: StartAgent, busybox_image: str, agent_containers: AgentContainers
) -> None:
    """Mesos cleans up orphans on every recovery, even with nothing checkpointed: here the
    agent's ledger is deleted between two runs, so its docker containerizer is offered no
    container at all. A container of another agent on the same Engine is left alone."""
    api = agent_containers.api
    neighbour = foreign_container(api, busybox_image, f"other-{uuid.uuid4().hex[:8]}")
    try:
        agent = await start_agent()
        await launch(agent, command_task("forgotten", SLEEP, busybox_image))
        docker_id = agent_containers.inspect(await running(agent, "forgotten"))["Id"]
        stop_agent(agent.process)  # containers outlive the agent
        assert api.inspect_container(docker_id)["State"]["Running"]
        for path in (agent.work_dir / "meta").glob("ledger.sqlite*"):
            path.unlink()

        await start_agent(work_dir=agent.work_dir)  # serves once recovery is over
        assert not exists(api, docker_id), "the orphan is stopped and removed"
        assert api.inspect_container(neighbour)["State"]["Running"], "not ours: untouched"
    finally:
        api.remove_container(neighbour, force=True)


async def test_a_task_id_with_a_colon_runs(start_agent: StartAgent, busybox_image: str) -> None:
    """Its sandbox path holds the colon, which a ``-v`` bind cannot (Mesos's MESOS-1833)."""
    agent = await start_agent()
    await launch(agent, command_task("ct:1:0:job", "echo hello from $MESOS_SANDBOX", busybox_image))
    task = await agent.wait_for_state("ct:1:0:job", "TASK_FINISHED", "TASK_FAILED")
    assert task["state"] == "TASK_FINISHED", task["statuses"][-1]
    sandbox = Path(task["sandbox_directory"])
    assert ":" in sandbox.parent.parent.name
    assert (sandbox / "stdout").read_text() == "hello from /mnt/mesos/sandbox\n"
