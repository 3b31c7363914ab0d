"""The agent's record of each task, checkpointed after every change.

One JSON file per task under ``<work_dir>/meta/tasks``, named by container id,
rewritten atomically. Secrets are redacted before anything reaches the disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.checkpoint import discard_partial_writes, read_json, write_json
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
from dockyard.redaction import redact_secrets
from dockyard.statuses import TERMINAL_STATES, KillCause

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


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

    @property
    def key(self) -> str:
        """Unique among records: tasks of one executor share its container."""
        return f"{container_key(self.container_id)}.{self.task.task_id.value}"

    @property
    def state(self) -> TaskState | None:
        return self.statuses[-1].state if self.statuses else None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def latest_status(self) -> TaskStatus | None:
        return self.statuses[-1] if self.statuses else None


class TaskStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, record: TaskRecord) -> Path:
        return self.directory / f"{record.key}.json"

    def save(self, record: TaskRecord) -> None:
        write_json(self.path_of(record), encode(record))

    def load_all(self) -> list[TaskRecord]:
        """Every checkpointed task; an unreadable file is logged and skipped, not fatal."""
        discard_partial_writes(self.directory)
        records = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                records.append(decode(read_json(path)))
            except Exception as error:
                log.error("ignoring unreadable task checkpoint %s: %s", path, error)
        return records


def encode(record: TaskRecord) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "task": redact_secrets(dump(record.task)),
        "framework": dump(record.framework),
        "executor_id": record.executor_id,
        "container_id": dump(record.container_id),
        "sandbox": str(record.sandbox),
        "containerizer": record.containerizer,
        "handle": record.handle,
        "statuses": [dump(status) for status in record.statuses],
        "exit_status": record.exit_status,
        "kill_cause": record.kill_cause.value if record.kill_cause else None,
        "launched_at": record.launched_at,
    }


def decode(data: dict[str, Any]) -> TaskRecord:
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"unsupported checkpoint version {data.get('version')!r}")
    return TaskRecord(
        task=load(TaskInfo, data["task"], path="task"),
        framework=load(FrameworkInfo, data["framework"], path="framework"),
        executor_id=data["executor_id"],
        container_id=load(ContainerID, data["container_id"], path="container_id"),
        sandbox=Path(data["sandbox"]),
        containerizer=data["containerizer"],
        handle=data["handle"],
        statuses=[load(TaskStatus, status, path="status") for status in data["statuses"]],
        exit_status=data["exit_status"],
        kill_cause=KillCause(data["kill_cause"]) if data["kill_cause"] else None,
        launched_at=data["launched_at"],
    )
