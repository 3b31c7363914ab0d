"""Tasks with their own executor, through the v1 executor HTTP API.

The executor (``stdlib_executor.py``) is a plain Python script using only the
standard library, run by the native ``mesos`` containerizer.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.docker.waiting import text, until

from .conftest import RunningAgent, stop_agent

pytest.importorskip("dockyard_mesos")

EXECUTOR = Path(__file__).parent / "stdlib_executor.py"
MESOS = "--containerizers=mesos"


def executor_task(
    task_id: str,
    command: str,
    *,
    executor_id: str = "ex1",
    checkpoint: bool = False,
    executor_command: str = f"{sys.executable} {EXECUTOR}",
) -> dict[str, Any]:
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "data": base64.b64encode(command.encode()).decode(),
        "executor": {
            "executor_id": {"value": executor_id},
            "command": {"value": executor_command},
            "shutdown_grace_period": {"nanoseconds": 2_000_000_000},
        },
    }
    framework = {"user": "root", "name": "tests", "id": {"value": "fw"}, "checkpoint": checkpoint}
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task, "framework_info": framework}}


def states(task: dict[str, Any]) -> list[str]:
    return [s["state"] for s in task["statuses"]]


async def test_executor_runs_a_task_and_reports_its_updates(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    assert (await agent.call(executor_task("t1", "echo from-task"))).status == 202
    task = await agent.wait_for_state("t1", "TASK_FINISHED", "TASK_FAILED")
    assert states(task) == ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert [s["source"] for s in task["statuses"]] == ["SOURCE_AGENT"] + ["SOURCE_EXECUTOR"] * 3
    sandbox = Path(task["sandbox_directory"])
    assert sandbox.parent.parent.name == "ex1", "the sandbox is the executor's"
    assert (sandbox / "stdout").read_text() == "from-task\n"


async def test_tasks_of_one_executor_share_its_container(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    await agent.call(executor_task("a", "sleep 1"))
    await agent.call(executor_task("b", "true"))
    a = await agent.wait_for_state("a", "TASK_FINISHED")
    b = await agent.wait_for_state("b", "TASK_FINISHED")
    assert a["container_id"] == b["container_id"]


async def test_an_executor_that_never_subscribes_times_out(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS, "--executor_registration_timeout=1secs")
    await agent.call(executor_task("t1", "true", executor_command="sleep 60"))
    task = await agent.wait_for_state("t1", "TASK_FAILED")
    last = task["statuses"][-1]
    assert last["reason"] == "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    assert last["message"] == "Executor did not register within 1secs"


async def test_an_executor_crash_fails_its_tasks(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    await agent.call(executor_task("t1", "crash"))
    task = await agent.wait_for_state("t1", "TASK_FAILED")
    last = task["statuses"][-1]
    assert last["reason"] == "REASON_EXECUTOR_TERMINATED"
    assert last["message"].startswith("Executor terminated")


async def test_kill_goes_through_the_executor_which_is_then_shut_down(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    await agent.call(executor_task("t1", "sleep 60"))
    await agent.wait_for_state("t1", "TASK_RUNNING")
    await agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": "t1"}}})
    task = await agent.wait_for_state("t1", "TASK_KILLED")
    assert task["statuses"][-1]["source"] == "SOURCE_EXECUTOR"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("grace_from", ["executor_info", "flag"])
async def test_an_executor_ignoring_shutdown_is_killed_after_the_grace_period(
    make_agent, grace_from: str
) -> None:
    """The executor process exits on SHUTDOWN, but its container lives on until killed."""
    by_flag = grace_from == "flag"
    agent: RunningAgent = await make_agent(
        MESOS, *(["--executor_shutdown_grace_period=1secs"] if by_flag else [])
    )
    outlive_shutdown = (
        f"{sys.executable} {EXECUTOR}; echo $? > exit_status; echo $$ > pid; exec sleep 600"
    )
    launch = executor_task("t1", "sleep 60", executor_command=outlive_shutdown)
    executor = launch["launch_task"]["task"]["executor"]
    if by_flag:
        del executor["shutdown_grace_period"]
    else:
        executor["shutdown_grace_period"] = {"nanoseconds": 1_000_000_000}
    await agent.call(launch)
    await agent.wait_for_state("t1", "TASK_RUNNING")
    await agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": "t1"}}})
    task = await agent.wait_for_state("t1", "TASK_KILLED")
    sandbox = Path(task["sandbox_directory"])
    await until(lambda: text(sandbox / "exit_status") == "0\n")  # it got SHUTDOWN
    await until(lambda: text(sandbox / "pid").strip().isdigit())
    await until(lambda: not alive(int(text(sandbox / "pid"))))


async def test_unknown_executor_and_bad_updates_are_refused(make_agent) -> None:
    """Without executor authentication (``test_executor_auth.py`` has the calls with it)."""
    agent: RunningAgent = await make_agent(MESOS, "--no-authenticate_http_executors")
    base = {"framework_id": {"value": "fw"}, "executor_id": {"value": "ghost"}}
    async with agent.session.post(
        f"{agent.url}/api/v1/executor", json={**base, "type": "SUBSCRIBE", "subscribe": {}}
    ) as r:
        assert r.status == 404
    status = {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR"}
    async with agent.session.post(
        f"{agent.url}/api/v1/executor",
        json={**base, "type": "UPDATE", "update": {"status": status}},
    ) as r:
        assert r.status == 400
        assert "uuid" in await r.text()
    resent = {"unacknowledged_updates": [{"status": status}]}
    async with agent.session.post(
        f"{agent.url}/api/v1/executor",
        json={**base, "type": "SUBSCRIBE", "subscribe": resent},
    ) as r:
        assert r.status == 400
        assert "subscribe.unacknowledged_updates[0].status.uuid" in await r.text()


async def test_a_checkpointing_executor_survives_an_agent_restart(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    await agent.call(
        executor_task(
            "t1", "touch started; while [ ! -f go ]; do sleep 0.05; done", checkpoint=True
        )
    )
    before = await agent.wait_for_state("t1", "TASK_RUNNING")
    stop_agent(agent.process, signal.SIGKILL)

    port = agent.url.rsplit(":", 1)[1]  # the executor knows the agent by its endpoint
    restarted: RunningAgent = await make_agent(MESOS, f"--port={port}", work_dir=agent.work_dir)
    (Path(before["sandbox_directory"]) / "go").touch()
    task = await restarted.wait_for_state("t1", "TASK_FINISHED", "TASK_FAILED", "TASK_LOST")
    assert states(task) == ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
