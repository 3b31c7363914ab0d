"""Health checks of native tasks through a real agent: COMMAND (run in the task by the
mesos containerizer's ``exec_in_container``), HTTP and TCP, with Mesos's sequences."""

from __future__ import annotations

import getpass
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import RunningAgent, stop_agent
from .health import CHECK_TIMING, UNHEALTHY_THEN_KILLED, free_port, health_updates, states
from .recordio import next_task_update

pytest.importorskip("dockyard_mesos")

MESOS = "--containerizers=mesos"


def checked_task(
    task_id: str, command: str, check: dict[str, Any], *, killing_state: bool = False
) -> dict[str, Any]:
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": command},
        "health_check": {**CHECK_TIMING, **check},
    }
    launch: dict[str, Any] = {"task": task}
    if killing_state:
        launch["framework_info"] = {
            "user": getpass.getuser(),
            "name": "health-tests",
            "capabilities": [{"type": "TASK_KILLING_STATE"}],
        }
    return {"type": "LAUNCH_TASK", "launch_task": launch}


def command_check(script: str, **timing: float) -> dict[str, Any]:
    return {"type": "COMMAND", "command": {"value": script}, **timing}


def sandbox_of(task: dict[str, Any], agent: RunningAgent) -> Path:
    """The task's sandbox, found by its task id (the only run of that executor)."""
    task_id = task["task_id"]["value"]
    [sandbox] = agent.work_dir.glob(f"slaves/*/frameworks/*/executors/{task_id}/runs/*-*")
    return sandbox


async def test_a_passing_http_check_reports_healthy(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    port = free_port()
    server = f"{sys.executable} -m http.server {port} --bind 127.0.0.1"
    await agent.call(checked_task("web", server, {"type": "HTTP", "http": {"port": port}}))
    async with agent.session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"}) as stream:
        while True:
            status = await next_task_update(stream)
            if status.get("healthy") is True:
                assert status["state"] == "TASK_RUNNING"
                assert status["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
                break


async def test_a_failing_tcp_check_kills_the_task(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    port = free_port()  # nothing listens there
    await agent.call(checked_task("deaf", "sleep 60", {"type": "TCP", "tcp": {"port": port}}))
    task = await agent.wait_for_state("deaf", "TASK_KILLED")
    assert health_updates(task) == [False, False, False]
    assert task["statuses"][-1]["healthy"] is False
    without_killing_state = [s for s in UNHEALTHY_THEN_KILLED if s != "TASK_KILLING"]
    assert states(task) == without_killing_state, "nothing but the kill after the last failure"


async def launch_task(agent: RunningAgent, launch: dict[str, Any]) -> None:
    response = await agent.call(launch)
    assert response.status == 202, await response.text()


async def first_health_update(agent: RunningAgent, launch: dict[str, Any]) -> dict[str, Any]:
    """Launch a task and return its first TASK_RUNNING update that carries a health."""
    async with agent.session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"}) as stream:
        await launch_task(agent, launch)
        while True:
            status = await next_task_update(stream)
            if "healthy" in status:
                return status


async def test_a_passing_command_check_reports_healthy(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    script = 'test "$PWD" = "$MESOS_SANDBOX" && test "$FROM_CHECK" = yes'
    check = command_check(script)
    check["command"]["environment"] = {"variables": [{"name": "FROM_CHECK", "value": "yes"}]}
    status = await first_health_update(agent, checked_task("fine", "sleep 60", check))
    assert status["state"] == "TASK_RUNNING"
    assert status["healthy"] is True
    assert status["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    assert status["source"] == "SOURCE_AGENT"


async def test_a_failing_command_check_kills_the_task(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    launch = checked_task("sick", "sleep 60", command_check("exit 1"), killing_state=True)
    await launch_task(agent, launch)
    task = await agent.wait_for_state("sick", "TASK_KILLED")
    assert health_updates(task) == [False, False, False]
    assert states(task) == UNHEALTHY_THEN_KILLED, "no TASK_RUNNING once the kill began"
    killed = task["statuses"][-1]
    assert killed["healthy"] is False
    assert "reason" not in killed  # Mesos gives a health-check kill no reason
    assert killed["message"] == "Command terminated with signal Terminated"


async def test_a_check_that_cannot_start_counts_as_a_failure(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    check = {"type": "COMMAND", "command": {"shell": False, "value": "/no/such/check"}}
    await launch_task(agent, checked_task("unstartable", "sleep 60", check))
    task = await agent.wait_for_state("unstartable", "TASK_KILLED")
    assert health_updates(task) == [False, False, False]


COUNTING = "n=$(cat checks 2>/dev/null || echo 0); echo $((n + 1)) > checks; "
"""Prefix of a check script that knows which check it is: ``$n`` checks ran before it."""


async def test_failures_within_the_grace_period_are_ignored_until_a_success(
    make_agent,
) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    script = COUNTING + "test $n -ge 2"  # fails twice, then passes
    check = command_check(script, grace_period_seconds=600, consecutive_failures=1)
    status = await first_health_update(agent, checked_task("slow-start", "sleep 60", check))
    assert status["healthy"] is True
    task = (await agent.tasks())["slow-start"]
    assert task["state"] == "TASK_RUNNING"
    assert health_updates(task) == [True]


async def test_after_a_first_success_the_grace_period_no_longer_applies(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    script = COUNTING + "test $n -eq 0"  # passes once, then fails
    check = command_check(script, grace_period_seconds=600, consecutive_failures=2)
    await launch_task(agent, checked_task("relapse", "sleep 60", check))
    task = await agent.wait_for_state("relapse", "TASK_KILLED")
    assert health_updates(task) == [True, False, False]


async def test_a_check_exceeding_its_timeout_fails_and_is_killed(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    script = "echo $$ >> stuck_checks; exec sleep 600"
    check = command_check(script, timeout_seconds=0.3, consecutive_failures=2)
    await launch_task(agent, checked_task("stuck", "sleep 60", check))
    task = await agent.wait_for_state("stuck", "TASK_KILLED")
    assert health_updates(task) == [False, False]
    pids = (sandbox_of(task, agent) / "stuck_checks").read_text().split()
    assert len(pids) == 2
    for pid in map(int, pids):
        assert not alive(pid), f"check {pid} outlived its timeout"


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead: only its reaping is pending)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_the_first_check_waits_for_its_delay(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    script = "date +%s.%N >> checked_at"
    check = command_check(script, delay_seconds=1.0, interval_seconds=0.2)
    status = await first_health_update(agent, checked_task("delayed", "sleep 60", check))
    task = (await agent.tasks())["delayed"]
    running = next(s for s in task["statuses"] if s["state"] == "TASK_RUNNING")
    first_check = float((sandbox_of(task, agent) / "checked_at").read_text().split()[0])
    assert first_check >= running["timestamp"] + 1.0  # a lower bound: it cannot be flaky
    assert states(task)[:4] == ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING"]
    assert status["healthy"] is True


async def test_health_checks_resume_after_an_agent_restart(make_agent) -> None:
    """A restarted agent checks its recovered tasks again: one that turns sick while
    the agent is back is still killed by its check."""
    agent: RunningAgent = await make_agent(MESOS)
    check = command_check("test ! -e sick")
    await launch_task(agent, checked_task("t", "sleep 60", check))
    task = await agent.wait_for_state("t", "TASK_RUNNING")
    stop_agent(agent.process, signal.SIGKILL)

    restarted: RunningAgent = await make_agent(MESOS, work_dir=agent.work_dir)
    (sandbox_of(task, restarted) / "sick").touch()
    killed = await restarted.wait_for_state("t", "TASK_KILLED")
    assert killed["statuses"][-1]["healthy"] is False
    assert health_updates(killed)[-3:] == [False, False, False]
