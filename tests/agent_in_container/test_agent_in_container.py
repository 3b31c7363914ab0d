"""The agent in a container of its own image (``--docker_mesos_image``), against the Engine.

Its task containers are siblings on the same Engine: they must get the *host* path of their
sandbox, outlive the agent's container, and be recovered by the next agent container; the
agent's own container must never be taken for an orphan.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from docker import APIClient
from docker.errors import NotFound
from dockyard_docker import naming

from tests.docker.waiting import text, until

from .conftest import TEST_LABEL, TEST_LABEL_VALUE, AgentContainers, Operator

pytestmark = pytest.mark.xdist_group("agent-image")
"""One worker builds the agent image and runs every test that needs it."""

TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST")
SCRIPT = (
    "echo started; echo started > $MESOS_SANDBOX/marker; "
    "while [ ! -e $MESOS_SANDBOX/go ]; do sleep 0.1; done; echo finished"
)
"""Runs until the test creates ``go`` in its sandbox on the host."""
CONTAINER_WORK_DIR = "/var/lib/dockyard"


def docker_task(task_id: str, image: str) -> dict[str, Any]:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": "ignored"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"value": SCRIPT},
        "container": {"type": "DOCKER", "docker": {"image": image}},
        "labels": {"labels": [{"key": TEST_LABEL, "value": TEST_LABEL_VALUE}]},
    }


def host_sandbox(work_dir: Path, task_id: str) -> Path:
    """The task's sandbox as the host sees it, found without the agent's help."""
    runs = work_dir.glob(f"slaves/*/frameworks/*/executors/{task_id}/runs/*")
    (sandbox,) = [run for run in runs if run.name != "latest"]
    return sandbox


def task_container(api: APIClient, agent_id: str, task_id: str) -> dict[str, Any]:
    """The task's container among this agent's: other runs on the Engine use ``t1`` too."""
    labels = [f"{naming.AGENT_LABEL}={agent_id}", f"{naming.TASK_LABEL}={task_id}"]
    (summary,) = api.containers(all=True, filters={"label": labels})
    inspect: dict[str, Any] = api.inspect_container(summary["Id"])
    return inspect


def start_orphan(api: APIClient, image: str, agent_id: str) -> str:
    """A container of this agent that no checkpoint claims (as after a lost checkpoint)."""
    container_id = str(uuid.uuid4())
    created = api.create_container(
        image,
        command=["sleep", "600"],
        name=naming.container_name(agent_id, container_id),
        labels={
            **naming.ownership_labels(agent_id, container_id, None),
            TEST_LABEL: TEST_LABEL_VALUE,
        },
    )
    api.start(created["Id"])
    return str(created["Id"])


def gone(api: APIClient, docker_id: str) -> bool:
    try:
        api.inspect_container(docker_id)
    except NotFound:
        return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("same_path", [True, False], ids=["same-path", "translated-path"])
async def test_task_outlives_the_agent_container_and_is_recovered(
    agent_containers: AgentContainers,
    docker_api: APIClient,
    busybox_image: str,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    same_path: bool,
) -> None:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    inside = str(work_dir) if same_path else CONTAINER_WORK_DIR
    mounts = {str(work_dir): inside}
    flags = (
        f"--work_dir={inside}",
        "--containerizers=docker",
        f"--docker_mesos_image={agent_containers.image}",
    )
    first = await agent_containers.start(mounts, *flags)
    operator = Operator(http, first.url)
    await operator.call(
        {"type": "LAUNCH_TASK", "launch_task": {"task": docker_task("t1", busybox_image)}}
    )
    await operator.wait_for_state("t1", "TASK_RUNNING", *TERMINAL)

    sandbox = host_sandbox(work_dir, "t1")
    await until(lambda: text(sandbox / "marker") == "started\n")
    task = task_container(docker_api, first.agent_id, "t1")
    assert f"{sandbox}:/mnt/mesos/sandbox:rw" in task["HostConfig"]["Binds"]
    orphan = start_orphan(docker_api, busybox_image, first.agent_id)

    agent_containers.kill(first)
    assert docker_api.inspect_container(task["Id"])["State"]["Running"]

    second = await agent_containers.start(mounts, *flags)
    assert second.agent_id == first.agent_id
    operator = Operator(http, second.url)
    recovered = await operator.task("t1")
    assert recovered is not None
    assert recovered["state"] == "TASK_RUNNING"
    await until(lambda: gone(docker_api, orphan))  # the orphan sweep ran...
    assert agent_containers.running(second)  # ...and spared the agent's own container

    (sandbox / "go").touch()
    ended = await operator.wait_for_state("t1", *TERMINAL)
    assert ended["state"] == "TASK_FINISHED"
    assert text(sandbox / "stdout") == "started\nfinished\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mount_work_dir", "wrong_image", "expected"),
    [
        (False, False, f"the work_dir {CONTAINER_WORK_DIR} is not on a bind mount or volume"),
        (True, True, "runs image"),
    ],
    ids=["work-dir-not-mounted", "other-image"],
)
def test_a_bad_setup_stops_the_agent_at_start(
    agent_containers: AgentContainers,
    busybox_image: str,
    tmp_path: Path,
    mount_work_dir: bool,
    wrong_image: bool,
    expected: str,
) -> None:
    image = busybox_image if wrong_image else agent_containers.image
    mounts = {str(tmp_path): CONTAINER_WORK_DIR} if mount_work_dir else {}
    agent = agent_containers.create(
        mounts,
        f"--work_dir={CONTAINER_WORK_DIR}",
        "--containerizers=docker",
        f"--docker_mesos_image={image}",
    )
    agent_containers.api.start(agent.docker_id)

    assert agent_containers.exit_code(agent) != 0
    logs = agent_containers.logs(agent)
    assert f"--docker_mesos_image={image}" in logs
    assert expected in logs
