"""Health checks of docker command tasks, through a real agent, on host and bridge networks.

HTTP and TCP checks go from the agent to the task's address: 127.0.0.1 with host
networking, the container's IP (from TASK_RUNNING's network_infos) on the bridge.
COMMAND checks run inside the container (the plugin's ``exec_in_container``).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.agent.conftest import RunningAgent
from tests.agent.health import UNHEALTHY_THEN_KILLED, free_port, health_updates, states
from tests.agent.recordio import next_task_update

from .conftest import StartAgent
from .tasks import checked_task

pytest.importorskip("dockyard_docker")

NETWORKS = ["HOST", "BRIDGE"]
CONTAINER_PORT = 8080
"""What the task listens on with a bridge network (its own network namespace)."""

HEALTHY_THEN_KILLED = [
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_RUNNING",  # healthy
    "TASK_KILLING",
    "TASK_KILLED",
]


def listening_port(network: str) -> int:
    return free_port() if network == "HOST" else CONTAINER_PORT


def server(kind: str, port: int) -> str:
    """A busybox server: httpd for HTTP checks, nc accepting connections for TCP ones."""
    if kind == "HTTP":
        return f"echo ok > /www/index.html; exec httpd -f -p {port} -h /www"
    return f"exec nc -ll -p {port} -e true"


def check_of(kind: str, port: int) -> dict[str, Any]:
    return {"type": kind, kind.lower(): {"port": port}}


async def healthy_update(agent: RunningAgent, task_id: str) -> dict[str, Any]:
    """The first health update of the task, followed on the SUBSCRIBE stream."""
    async with agent.session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"}) as stream:
        while True:
            status = await next_task_update(stream)
            if status["task_id"]["value"] == task_id and "healthy" in status:
                return status


async def kill(agent: RunningAgent, task_id: str) -> dict[str, Any]:
    await agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": task_id}}})
    return await agent.wait_for_state(task_id, "TASK_KILLED")


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kind", ["HTTP", "TCP"])
async def test_a_passing_check_reports_healthy(
    start_agent: StartAgent, busybox_image: str, kind: str, network: str
) -> None:
    agent = await start_agent()
    port = listening_port(network)
    check = {**check_of(kind, port), "grace_period_seconds": 60}  # until the server is up
    await agent.call(checked_task("web", server(kind, port), busybox_image, network, check))
    status = await healthy_update(agent, "web")
    assert status["healthy"] is True
    assert status["state"] == "TASK_RUNNING"
    assert status["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    task = await kill(agent, "web")
    assert states(task) == HEALTHY_THEN_KILLED
    assert health_updates(task) == [True]


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kind", ["HTTP", "TCP"])
async def test_a_failing_check_kills_the_task(
    start_agent: StartAgent, busybox_image: str, kind: str, network: str
) -> None:
    agent = await start_agent()
    port = listening_port(network)  # nothing listens there
    deaf = checked_task("deaf", "exec sleep 60", busybox_image, network, check_of(kind, port))
    await agent.call(deaf)
    task = await agent.wait_for_state("deaf", "TASK_KILLED")
    assert health_updates(task) == [False, False, False]
    assert states(task) == UNHEALTHY_THEN_KILLED, "no TASK_RUNNING once the kill began"
    assert task["statuses"][-1]["healthy"] is False


async def test_checks_on_the_bridge_go_to_the_container_ip(
    start_agent: StartAgent, busybox_image: str
) -> None:
    agent = await start_agent()
    check = {**check_of("HTTP", CONTAINER_PORT), "grace_period_seconds": 60}
    web = server("HTTP", CONTAINER_PORT)
    await agent.call(checked_task("web", web, busybox_image, "BRIDGE", check))
    healthy = await healthy_update(agent, "web")
    (network,) = healthy["container_status"]["network_infos"]
    (address,) = network["ip_addresses"]
    assert address["ip_address"] != "127.0.0.1"
    await kill(agent, "web")


# -- COMMAND checks: inside the container -------------------------------------------------


def plugin_can_exec() -> bool:
    from dockyard_docker.plugin import DockerContainerizer

    return hasattr(DockerContainerizer, "exec_in_container")


needs_exec = pytest.mark.skipif(
    not plugin_can_exec(), reason="the docker plugin has no exec_in_container hook yet"
)


@needs_exec
async def test_a_passing_command_check_runs_inside_the_container(
    start_agent: StartAgent, busybox_image: str
) -> None:
    agent = await start_agent()
    inside = f"/tmp/{uuid.uuid4().hex}"  # a file only the container has
    check = {
        "type": "COMMAND",
        "command": {"value": f"test -f {inside}"},
        "grace_period_seconds": 60,
    }
    command = f"touch {inside}; exec sleep 60"
    await agent.call(checked_task("cmd", command, busybox_image, "BRIDGE", check))
    status = await healthy_update(agent, "cmd")
    assert status["healthy"] is True
    task = await kill(agent, "cmd")
    assert states(task) == HEALTHY_THEN_KILLED


@needs_exec
async def test_a_failing_command_check_kills_the_task(
    start_agent: StartAgent, busybox_image: str
) -> None:
    agent = await start_agent()
    check = {"type": "COMMAND", "command": {"value": "exit 1"}}
    await agent.call(checked_task("cmd", "exec sleep 60", busybox_image, "BRIDGE", check))
    task = await agent.wait_for_state("cmd", "TASK_KILLED")
    assert health_updates(task) == [False, False, False]
    assert states(task) == UNHEALTHY_THEN_KILLED


@pytest.mark.slow
async def test_host_network_checks_go_to_the_loopback_address_whatever_the_agent_ip(
    start_agent: StartAgent, busybox_image: str
) -> None:
    """Mesos checks 127.0.0.1 in the task's network namespace; for a task on the host
    network that is the host's loopback, also when the agent listens elsewhere."""
    agent = await start_agent("--ip=127.0.0.2")  # any 127/8 address is the loopback's
    port = free_port()
    check = {**check_of("HTTP", port), "grace_period_seconds": 5}
    command = f"echo ok > /www/index.html; exec httpd -f -p 127.0.0.1:{port} -h /www"
    await agent.call(checked_task("web", command, busybox_image, "HOST", check))
    assert (await healthy_update(agent, "web"))["healthy"] is True
    await kill(agent, "web")
