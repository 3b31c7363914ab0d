"""Executors in a Docker image: the standard-library executor run by a Debian image's python3.

The executor is fetched into the sandbox as a URI and started by the docker containerizer
with host networking; it subscribes to the agent's v1 executor API like any other.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.agent.conftest import RunningAgent, stop_agent
from tests.agent.health import states
from tests.docker.waiting import text, until

from .conftest import AgentContainers, StartAgent
from .tasks import EXECUTOR, executor_task

pytest.importorskip("dockyard_docker")

FINISHED = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]


async def test_executor_in_an_image_runs_a_task(
    start_agent: StartAgent, debian_image: str, agent_containers: AgentContainers
) -> None:
    agent = await start_agent()
    assert (await agent.call(executor_task("t1", "echo from-task", debian_image))).status == 202
    task = await agent.wait_for_state("t1", "TASK_FINISHED", "TASK_FAILED")
    assert states(task) == FINISHED
    assert [s["source"] for s in task["statuses"]] == ["SOURCE_AGENT"] + ["SOURCE_EXECUTOR"] * 3
    sandbox = Path(task["sandbox_directory"])
    assert sandbox.parent.parent.name == "ex1", "the sandbox is the executor's"
    await until(lambda: "from-task\n" in text(sandbox / "stdout"))
    inspect = agent_containers.inspect(task["container_id"]["value"])
    assert inspect["Config"]["Image"] == debian_image
    assert inspect["HostConfig"]["NetworkMode"] == "host"


async def test_executor_in_an_image_authenticates_with_its_token(
    start_agent: StartAgent, debian_image: str, agent_containers: AgentContainers, tmp_path: Path
) -> None:
    """The token is in the container's environment (as ``docker inspect`` shows to whoever
    holds the Docker socket, as with Mesos) and in none of the agent's files or its log."""
    agent = await start_agent()
    await agent.call(executor_task("t1", "true", debian_image))
    task = await agent.wait_for_state("t1", "TASK_FINISHED", "TASK_FAILED")
    assert states(task) == FINISHED, "it subscribed and updated with its token"
    environment = agent_containers.inspect(task["container_id"]["value"])["Config"]["Env"]
    (token,) = [
        entry.partition("=")[2]
        for entry in environment
        if entry.startswith("MESOS_EXECUTOR_AUTHENTICATION_TOKEN=")
    ]
    signature = token.rsplit(".", 1)[1].encode()
    stop_agent(agent.process)
    for path in (agent.work_dir / "meta").rglob("*"):
        assert not path.is_file() or signature not in path.read_bytes(), path
    assert signature not in (tmp_path / "agent-0.log").read_bytes()


@pytest.mark.parametrize("ends", ["while the agent is down", "after the restart"])
async def test_executor_in_an_image_survives_an_agent_sigkill(
    start_agent: StartAgent, debian_image: str, agent_containers: AgentContainers, ends: str
) -> None:
    """A checkpointing executor resubscribes to the restarted agent. A task that ended while
    the agent was down reaches it only as an unacknowledged update of the resubscription."""
    wait_for_go = (
        'until [ -f "$MESOS_SANDBOX/go" ]; do sleep 0.05; done; touch "$MESOS_SANDBOX/gone"'
    )
    agent = await start_agent()
    await agent.call(executor_task("t1", wait_for_go, debian_image, checkpoint=True))
    before = await agent.wait_for_state("t1", "TASK_RUNNING")
    sandbox = Path(before["sandbox_directory"])
    docker_id = agent_containers.inspect(before["container_id"]["value"])["Id"]
    stop_agent(agent.process, signal.SIGKILL)
    if ends == "while the agent is down":
        (sandbox / "go").touch()
        await until(lambda: (sandbox / "gone").exists())

    port = agent.url.rsplit(":", 1)[1]  # the executor knows the agent by its endpoint
    restarted: RunningAgent = await start_agent(f"--port={port}", work_dir=agent.work_dir)
    (sandbox / "go").touch()
    task = await restarted.wait_for_state("t1", "TASK_FINISHED", "TASK_FAILED", "TASK_LOST")
    assert states(task) == FINISHED, "resubscribed, and no update recorded twice"
    assert task["container_id"] == before["container_id"]
    assert agent_containers.inspect(task["container_id"]["value"])["Id"] == docker_id


async def test_an_executor_that_never_subscribes_is_destroyed(
    start_agent: StartAgent, debian_image: str, agent_containers: AgentContainers
) -> None:
    agent = await start_agent(
        "--executor_registration_timeout=1secs", "--docker_remove_delay=0secs"
    )
    await agent.call(executor_task("t1", "true", debian_image, executor_command="exec sleep 60"))
    task = await agent.wait_for_state("t1", "TASK_FAILED")
    last = task["statuses"][-1]
    assert last["reason"] == "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    assert last["message"] == "Executor did not register within 1secs"
    assert all(c["State"] != "running" for c in agent_containers.listed()), "destroyed first"
    await until(lambda: not agent_containers.listed())


@pytest.mark.slow
async def test_an_executor_that_does_not_resubscribe_is_destroyed(
    start_agent: StartAgent, debian_image: str, agent_containers: AgentContainers
) -> None:
    """Its process exits with the agent (no checkpointing); its container lives on."""
    outlive_the_executor = f'python3 "$MESOS_SANDBOX/{EXECUTOR.name}"; exec sleep 600'
    agent = await start_agent()
    await agent.call(
        executor_task("t1", "exec sleep 60", debian_image, executor_command=outlive_the_executor)
    )
    await agent.wait_for_state("t1", "TASK_RUNNING")
    stop_agent(agent.process, signal.SIGKILL)

    restarted = await start_agent(
        "--executor_reregistration_timeout=1secs",
        "--docker_remove_delay=0secs",
        work_dir=agent.work_dir,
    )
    task = await restarted.wait_for_state("t1", "TASK_LOST")
    last = task["statuses"][-1]
    assert last["reason"] == "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"
    assert last["message"] == "Executor did not reregister within 1secs"
    assert all(c["State"] != "running" for c in agent_containers.listed()), "destroyed first"


async def test_a_kill_before_the_executor_subscribed_destroys_it(
    start_agent: StartAgent, debian_image: str, agent_containers: AgentContainers
) -> None:
    agent = await start_agent("--docker_remove_delay=0secs")
    await agent.call(executor_task("t1", "true", debian_image, executor_command="exec sleep 60"))
    await until(lambda: bool(agent_containers.listed()))
    await agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": "t1"}}})
    task = await agent.wait_for_state("t1", "TASK_KILLED")
    assert task["statuses"][-1]["reason"] == "REASON_TASK_KILLED_DURING_LAUNCH"
    await until(lambda: not agent_containers.listed())


async def test_an_executor_crash_fails_its_task(start_agent: StartAgent, debian_image: str) -> None:
    agent = await start_agent()
    await agent.call(executor_task("t1", "crash", debian_image))
    task = await agent.wait_for_state("t1", "TASK_FAILED")
    last = task["statuses"][-1]
    assert last["reason"] == "REASON_EXECUTOR_TERMINATED"
    assert last["message"] == "Executor terminated: Container exited with status 7"


@pytest.mark.parametrize("grace_from", ["executor_info", "flag"])
async def test_an_executor_ignoring_shutdown_is_killed_after_the_grace_period(
    start_agent: StartAgent, debian_image: str, agent_containers: AgentContainers, grace_from: str
) -> None:
    """The executor process exits on SHUTDOWN, but its container lives on until killed."""
    outlive_shutdown = (
        f'python3 "$MESOS_SANDBOX/{EXECUTOR.name}"; echo $? > "$MESOS_SANDBOX/exit_status"; '
        "exec sleep 600"
    )
    by_flag = grace_from == "flag"
    agent = await start_agent(*(["--executor_shutdown_grace_period=1secs"] if by_flag else []))
    launch = executor_task(
        "t1",
        "exec sleep 60",
        debian_image,
        executor_command=outlive_shutdown,
        shutdown_grace=None if by_flag else 1,
    )
    await agent.call(launch)
    running = await agent.wait_for_state("t1", "TASK_RUNNING")
    container_id = running["container_id"]["value"]
    environment = agent_containers.inspect(container_id)["Config"]["Env"]
    assert "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=1secs" in environment
    await agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": "t1"}}})
    task = await agent.wait_for_state("t1", "TASK_KILLED")
    assert task["statuses"][-1]["source"] == "SOURCE_EXECUTOR"

    sandbox = Path(task["sandbox_directory"])
    await until(lambda: text(sandbox / "exit_status") == "0\n")  # it got SHUTDOWN
    await until(lambda: not agent_containers.inspect(container_id)["State"]["Running"])
    assert agent_containers.inspect(container_id)["State"]["ExitCode"] == 128 + signal.SIGKILL
