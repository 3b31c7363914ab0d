"""Building TaskStatus updates, and the terminal state a termination maps to."""

from __future__ import annotations

import enum
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from dockyard import uuids
from dockyard.containers import Termination
from dockyard.messages import (
    AgentID,
    ContainerStatus,
    ExecutorID,
    Reason,
    StatusSource,
    TaskID,
    TaskState,
    TaskStatus,
)

if TYPE_CHECKING:
    from dockyard.ledger.records import TaskRecord

TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
        TaskState.TASK_LOST,
    }
)


class KillCause(enum.Enum):
    """Why the agent stopped a task, which decides its terminal state."""

    REQUESTED = "requested"
    MAX_COMPLETION_TIME = "max_completion_time"
    REGISTRATION_TIMEOUT = "registration_timeout"
    HEALTH_CHECK = "health_check"


def make_status(
    task_id: TaskID,
    state: TaskState,
    *,
    agent_id: str,
    executor_id: str,
    message: str | None = None,
    reason: Reason | None = None,
    data: bytes | None = None,
    container_status: ContainerStatus | None = None,
    healthy: bool | None = None,
) -> TaskStatus:
    return TaskStatus(
        task_id=task_id,
        state=state,
        message=message,
        reason=reason,
        source=StatusSource.SOURCE_AGENT,
        agent_id=AgentID(value=agent_id),
        executor_id=ExecutorID(value=executor_id),
        timestamp=time.time(),
        uuid=uuids.uuid4_bytes(),
        data=data,
        container_status=container_status,
        healthy=healthy,
    )


def agent_status(record: TaskRecord, state: TaskState, agent_id: str, **fields: Any) -> TaskStatus:
    """An update the agent itself makes about ``record`` (source SOURCE_AGENT)."""
    container_status = fields.get("container_status")
    if not isinstance(container_status, ContainerStatus):
        fields["container_status"] = ContainerStatus(container_id=record.container_id)
    elif container_status.container_id is None:
        container_status.container_id = record.container_id
    return make_status(
        record.task.task_id,
        state,
        agent_id=agent_id,
        executor_id=record.executor_id,
        **fields,
    )


def describe_wait_status(status: int) -> str:
    """Mesos's wording for a raw ``wait(2)`` status."""
    if os.WIFEXITED(status):
        return f"Container exited with status {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = signal.strsignal(number) or f"signal {number}"
        return f"Container terminated with signal {name}"
    return f"Container ended with wait status {status}"


def describe_status(status: TaskStatus) -> str:
    """One line for people: state, task id, reason and message."""
    parts = [status.state.name, status.task_id.value]
    if status.reason is not None:
        parts.append(status.reason.name)
    if status.message:
        parts.append(status.message)
    return "  ".join(parts)


def exit_code(wait_status: int | None) -> int | None:
    """The process exit code, when the container exited normally."""
    if wait_status is not None and os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    return None


def terminal_state(
    termination: Termination, cause: KillCause | None
) -> tuple[TaskState, Reason | None, str]:
    """The terminal (state, reason, message) of a task whose container ended."""
    message = termination.message
    if not message and termination.status is not None:
        message = describe_wait_status(termination.status)
    if cause in (KillCause.REQUESTED, KillCause.HEALTH_CHECK):
        return TaskState.TASK_KILLED, termination.reason, message or "Container killed"
    if cause is KillCause.REGISTRATION_TIMEOUT:
        return (
            TaskState.TASK_FAILED,
            Reason.REASON_EXECUTOR_REGISTRATION_TIMEOUT,
            message or "Container did not start in time",
        )
    if cause is KillCause.MAX_COMPLETION_TIME:
        return (
            TaskState.TASK_FAILED,
            Reason.REASON_MAX_COMPLETION_TIME_REACHED,
            message or "Task exceeded its max completion time",
        )
    if termination.state is not None:
        return termination.state, termination.reason, message
    state = TaskState.TASK_FINISHED if exit_code(termination.status) == 0 else TaskState.TASK_FAILED
    return state, termination.reason, message
