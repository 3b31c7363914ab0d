"""LAUNCH_TASK bodies for the tests: executors in a Docker image, health-checked docker tasks."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.agent.health import CHECK_TIMING

from .conftest import SESSION_LABEL

EXECUTOR = Path(__file__).parent.parent / "agent" / "stdlib_executor.py"
"""The standard-library executor; fetched into the sandbox, run by the image's python3."""

RUN_EXECUTOR = f'exec python3 "$MESOS_SANDBOX/{EXECUTOR.name}"'

SECOND = 1_000_000_000


def docker_container(image: str, network: str = "HOST") -> dict[str, Any]:
    return {"type": "DOCKER", "docker": {"image": image, "network": network}}


def framework(
    *, checkpoint: bool = False, capabilities: tuple[str, ...] = (), user: str = "root"
) -> dict[str, Any]:
    return {
        "user": user,
        "name": "tests",
        "id": {"value": "fw"},
        "checkpoint": checkpoint,
        "capabilities": [{"type": capability} for capability in capabilities],
    }


def executor_task(
    task_id: str,
    command: str,
    image: str,
    *,
    executor_command: str = RUN_EXECUTOR,
    checkpoint: bool = False,
    shutdown_grace: float | None = 2,
) -> dict[str, Any]:
    """A task whose ``data`` is the shell command the executor runs for it.

    The executor's container has host networking, so it reaches the agent at
    MESOS_AGENT_ENDPOINT (127.0.0.1), and the session label (a ``label`` parameter).
    """
    container = docker_container(image)
    container["docker"]["parameters"] = [{"key": "label", "value": SESSION_LABEL}]
    executor: dict[str, Any] = {
        "executor_id": {"value": "ex1"},
        "command": {"value": executor_command, "uris": [{"value": str(EXECUTOR)}]},
        "container": container,
    }
    if shutdown_grace is not None:
        executor["shutdown_grace_period"] = {"nanoseconds": int(shutdown_grace * SECOND)}
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "data": base64.b64encode(command.encode()).decode(),
        "executor": executor,
    }
    return {
        "type": "LAUNCH_TASK",
        "launch_task": {"task": task, "framework_info": framework(checkpoint=checkpoint)},
    }


def command_task(
    task_id: str, command: str, image: str, network: str = "HOST", **fields: Any
) -> dict[str, Any]:
    """A docker command task with the session label; killing it takes no grace period."""
    key, _, value = SESSION_LABEL.partition("=")
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": command},
        "container": docker_container(image, network),
        "kill_policy": {"grace_period": {"nanoseconds": 0}},
        "labels": {"labels": [{"key": key, "value": value}]},
        **fields,
    }


def checked_task(
    task_id: str, command: str, image: str, network: str, check: dict[str, Any]
) -> dict[str, Any]:
    """A docker command task with a health check."""
    task = command_task(task_id, command, image, network, health_check={**CHECK_TIMING, **check})
    return {
        "type": "LAUNCH_TASK",
        "launch_task": {
            "task": task,
            "framework_info": framework(capabilities=("TASK_KILLING_STATE",)),
        },
    }
