"""The v1 executor HTTP API (``POST /api/v1/executor``): executor ``Call`` and ``Event``.

Mesos's ``executor.proto`` names these ``Call``/``Event`` with nested bodies; here each
gets an ``Executor`` prefix so it cannot be mistaken for the operator API's ``Call``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.framework import AgentInfo, FrameworkInfo
from dockyard.messages.ids import ContainerID, ExecutorID, FrameworkID, TaskID
from dockyard.messages.status import TaskStatus
from dockyard.messages.tasks import ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo


class ExecutorCallType(enum.Enum):
    """``executor.Call.Type``."""

    UNKNOWN = 0
    SUBSCRIBE = 1
    UPDATE = 2
    MESSAGE = 3
    HEARTBEAT = 4


@dataclass(kw_only=True)
class ExecutorUpdate:
    """``Call.Update``: a status update the executor sends (acknowledged by uuid)."""

    status: TaskStatus


@dataclass(kw_only=True)
class ExecutorSubscribe:
    """``Call.Subscribe``: what a reconnecting executor has not seen acknowledged yet."""

    unacknowledged_tasks: list[TaskInfo] = field(default_factory=list)
    unacknowledged_updates: list[ExecutorUpdate] = field(default_factory=list)


@dataclass(kw_only=True)
class ExecutorMessage:
    """``Call.Message`` and ``Event.Message``: opaque framework data."""

    data: bytes


@dataclass(kw_only=True)
class ExecutorCall:
    """A request of an executor; ``type`` names the body field."""

    executor_id: ExecutorID
    framework_id: FrameworkID
    type: ExecutorCallType
    subscribe: ExecutorSubscribe | None = None
    update: ExecutorUpdate | None = None
    message: ExecutorMessage | None = None


class ExecutorEventType(enum.Enum):
    """``executor.Event.Type``."""

    UNKNOWN = 0
    SUBSCRIBED = 1
    LAUNCH = 2
    LAUNCH_GROUP = 8
    KILL = 3
    ACKNOWLEDGED = 4
    MESSAGE = 5
    ERROR = 6
    SHUTDOWN = 7
    HEARTBEAT = 9


@dataclass(kw_only=True)
class ExecutorSubscribed:
    """``Event.Subscribed``: who the executor is and where it runs."""

    executor_info: ExecutorInfo
    framework_info: FrameworkInfo
    agent_info: AgentInfo
    container_id: ContainerID | None = None


@dataclass(kw_only=True)
class ExecutorLaunch:
    """``Event.Launch``."""

    task: TaskInfo


@dataclass(kw_only=True)
class ExecutorLaunchGroup:
    """``Event.LaunchGroup``."""

    task_group: TaskGroupInfo


@dataclass(kw_only=True)
class ExecutorKill:
    """``Event.Kill``; ``kill_policy`` overrides the task's own."""

    task_id: TaskID
    kill_policy: KillPolicy | None = None


@dataclass(kw_only=True)
class ExecutorAcknowledged:
    """``Event.Acknowledged``: the agent has the update with this ``uuid``."""

    task_id: TaskID
    uuid: bytes


@dataclass(kw_only=True)
class ExecutorError:
    """``Event.Error``."""

    message: str


@dataclass(kw_only=True)
class ExecutorEvent:
    """One RecordIO record of the executor's ``SUBSCRIBE`` stream."""

    type: ExecutorEventType
    subscribed: ExecutorSubscribed | None = None
    launch: ExecutorLaunch | None = None
    launch_group: ExecutorLaunchGroup | None = None
    kill: ExecutorKill | None = None
    acknowledged: ExecutorAcknowledged | None = None
    message: ExecutorMessage | None = None
    error: ExecutorError | None = None
