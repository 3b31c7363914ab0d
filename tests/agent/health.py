"""What health-check tests of every containerizer share: timings, sequences, accessors."""

from __future__ import annotations

import socket
from typing import Any

CHECK_TIMING = {
    "delay_seconds": 0.2,
    "interval_seconds": 0.2,
    "timeout_seconds": 2,
    "grace_period_seconds": 0,
    "consecutive_failures": 3,
}
"""Fast checks: three failures in a row kill the task within about a second."""

UNHEALTHY_THEN_KILLED = [
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_RUNNING",
    "TASK_RUNNING",
    "TASK_RUNNING",  # the three unhealthy updates
    "TASK_KILLING",
    "TASK_KILLED",
]
"""Mesos's sequence for a failing check (framework with TASK_KILLING_STATE): no
TASK_RUNNING once the kill began."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def states(task: dict[str, Any]) -> list[str]:
    return [s["state"] for s in task["statuses"]]


def health_updates(task: dict[str, Any]) -> list[bool]:
    return [
        s["healthy"]
        for s in task["statuses"]
        if s.get("reason") == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    ]
