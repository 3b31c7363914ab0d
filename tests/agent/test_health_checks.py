"""HTTP and TCP health checks of native tasks, through a real agent."""

from __future__ import annotations

import socket
import sys
from typing import Any

import pytest

from .conftest import RunningAgent
from .recordio import next_task_update

pytest.importorskip("dockyard_mesos")

MESOS = "--containerizers=mesos"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def checked_task(task_id: str, command: str, check: dict[str, Any]) -> dict[str, Any]:
    timing = {
        "delay_seconds": 0.2,
        "interval_seconds": 0.2,
        "timeout_seconds": 2,
        "grace_period_seconds": 0,
        "consecutive_failures": 3,
    }
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": command},
        "health_check": {**timing, **check},
    }
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}


def health_updates(task: dict[str, Any]) -> list[bool]:
    return [
        s["healthy"]
        for s in task["statuses"]
        if s.get("reason") == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    ]


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
    assert [s["state"] for s in task["statuses"]] == [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_RUNNING",
        "TASK_RUNNING",
        "TASK_RUNNING",  # the three unhealthy updates
        "TASK_KILLED",
    ], "nothing but the kill after the last failure"
