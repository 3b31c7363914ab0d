"""A task as the agent keeps it, and its rows in the ledger's database.

A record's ``statuses`` are the updates the world has seen: each was durable
before it was appended there. ``head_state`` also counts the update most
recently accepted but perhaps not yet durable, which is what the agent's own
decisions (may this task still be killed? is it ending?) must look at.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.dispatcher import container_key
from dockyard.messages import (
    ContainerID,
    FrameworkInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
    dump,
    load,
)
from dockyard.messages.jsontext import compact
from dockyard.redaction import redact_secrets
from dockyard.statuses import TERMINAL_STATES, KillCause


@dataclass(kw_only=True, eq=False)
class TaskRecord:
    task: TaskInfo
    framework: FrameworkInfo
    executor_id: str
    container_id: ContainerID
    sandbox: Path
    containerizer: str | None = None
    handle: dict[str, Any] = field(default_factory=dict)
    statuses: list[TaskStatus] = field(default_factory=list)
    exit_status: int | None = None
    kill_cause: KillCause | None = None
    launched_at: float | None = None
    """Wall-clock time of TASK_RUNNING, for max_completion_time across restarts."""
    head_state: TaskState | None = None
    """State of the newest accepted update, durable or not."""

    @property
    def key(self) -> str:
        """Unique among records: tasks of one executor share its container."""
        return f"{container_key(self.container_id)}.{self.task.task_id.value}"

    @property
    def framework_id(self) -> str:
        assert self.framework.id is not None
        return self.framework.id.value

    @property
    def state(self) -> TaskState | None:
        return self.statuses[-1].state if self.statuses else None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def ending(self) -> bool:
        """A terminal update was accepted (it may not be durable yet)."""
        return self.head_state in TERMINAL_STATES

    @property
    def latest_status(self) -> TaskStatus | None:
        return self.statuses[-1] if self.statuses else None


def checksum(text: str) -> int:
    return zlib.crc32(text.encode())


def identity_json(record: TaskRecord) -> str:
    """What never changes after launch (secrets redacted)."""
    return compact(
        {
            "task": redact_secrets(dump(record.task)),
            "framework": dump(record.framework),
            "executor_id": record.executor_id,
            "container_id": dump(record.container_id),
            "sandbox": str(record.sandbox),
        }
    )


def progress_json(record: TaskRecord) -> str:
    """What the agent learns while the task runs."""
    return compact(
        {
            "containerizer": record.containerizer,
            "handle": record.handle,
            "exit_status": record.exit_status,
            "kill_cause": record.kill_cause.value if record.kill_cause else None,
            "launched_at": record.launched_at,
        }
    )


def status_json(status: TaskStatus) -> str:
    return compact(dump(status))


def decode_record(identity: str, progress: str, statuses: list[str]) -> TaskRecord:
    """A record from its rows; raises on anything malformed."""
    ids = json.loads(identity)
    more = json.loads(progress)
    record = TaskRecord(
        task=load(TaskInfo, ids["task"], path="task"),
        framework=load(FrameworkInfo, ids["framework"], path="framework"),
        executor_id=str(ids["executor_id"]),
        container_id=load(ContainerID, ids["container_id"], path="container_id"),
        sandbox=Path(ids["sandbox"]),
        containerizer=more["containerizer"],
        handle=dict(more["handle"]),
        statuses=[load(TaskStatus, json.loads(s), path="status") for s in statuses],
        exit_status=more["exit_status"],
        kill_cause=KillCause(more["kill_cause"]) if more["kill_cause"] else None,
        launched_at=more["launched_at"],
    )
    if record.framework.id is None:
        raise ValueError("framework.id is missing")
    record.head_state = record.state
    return record
