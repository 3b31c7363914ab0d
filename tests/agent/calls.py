"""Operator API calls that tests against a real agent send."""

from __future__ import annotations

from typing import Any


def launch(task_id: str, command: str, **extra: Any) -> dict[str, Any]:
    """``LAUNCH_TASK`` of a command task (``extra``: more TaskInfo fields)."""
    task = {"name": task_id, "task_id": {"value": task_id}, "command": {"value": command}, **extra}
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}


def kill(task_id: str) -> dict[str, Any]:
    return {"type": "KILL_TASK", "kill_task": {"task_id": {"value": task_id}}}
