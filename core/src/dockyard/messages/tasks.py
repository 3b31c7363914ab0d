"""What a framework asks to run: ``TaskInfo``, ``ExecutorInfo`` and their checks."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.command import CommandInfo
from dockyard.messages.common import DurationInfo, Labels
from dockyard.messages.container import ContainerInfo, IPProtocol
from dockyard.messages.ids import AgentID, ExecutorID, FrameworkID, TaskID
from dockyard.messages.mapping import UInt32
from dockyard.messages.resources import Resource, Scalar


@dataclass(kw_only=True)
class KillPolicy:
    """How long a task gets between SIGTERM and SIGKILL."""

    grace_period: DurationInfo | None = None


class CheckType(enum.Enum):
    """``HealthCheck.Type`` and ``CheckInfo.Type`` (identical in the protos)."""

    UNKNOWN = 0
    COMMAND = 1
    HTTP = 2
    TCP = 3


@dataclass(kw_only=True)
class HTTPCheckInfo:
    """``HealthCheck.HTTPCheckInfo``."""

    protocol: IPProtocol = IPProtocol.IPv4
    scheme: str | None = None
    port: UInt32
    path: str | None = None
    statuses: list[UInt32] = field(default_factory=list)


@dataclass(kw_only=True)
class TCPCheckInfo:
    """``HealthCheck.TCPCheckInfo``."""

    protocol: IPProtocol = IPProtocol.IPv4
    port: UInt32


@dataclass(kw_only=True)
class HealthCheck:
    """A health check; ``type`` says which of ``command``/``http``/``tcp`` applies."""

    type: CheckType | None = None
    delay_seconds: float = 15.0
    interval_seconds: float = 10.0
    timeout_seconds: float = 20.0
    consecutive_failures: UInt32 = 3
    grace_period_seconds: float = 10.0
    command: CommandInfo | None = None
    http: HTTPCheckInfo | None = None
    tcp: TCPCheckInfo | None = None


@dataclass(kw_only=True)
class CommandCheck:
    """``CheckInfo.Command``."""

    command: CommandInfo


@dataclass(kw_only=True)
class HttpCheck:
    """``CheckInfo.Http``."""

    port: UInt32
    path: str | None = None


@dataclass(kw_only=True)
class TcpCheck:
    """``CheckInfo.Tcp``."""

    port: UInt32


@dataclass(kw_only=True)
class CheckInfo:
    """A general (non-health) check whose result is reported in ``TaskStatus.check_status``."""

    type: CheckType | None = None
    command: CommandCheck | None = None
    http: HttpCheck | None = None
    tcp: TcpCheck | None = None
    delay_seconds: float = 15.0
    interval_seconds: float = 10.0
    timeout_seconds: float = 20.0


class DiscoveryVisibility(enum.Enum):
    """``DiscoveryInfo.Visibility``."""

    FRAMEWORK = 0
    CLUSTER = 1
    EXTERNAL = 2


@dataclass(kw_only=True)
class Port:
    number: UInt32
    name: str | None = None
    protocol: str | None = None
    visibility: DiscoveryVisibility | None = None
    labels: Labels | None = None


@dataclass(kw_only=True)
class Ports:
    ports: list[Port] = field(default_factory=list)


@dataclass(kw_only=True)
class DiscoveryInfo:
    """Service discovery hints, passed through untouched."""

    visibility: DiscoveryVisibility
    name: str | None = None
    environment: str | None = None
    location: str | None = None
    version: str | None = None
    ports: Ports | None = None
    labels: Labels | None = None


class ExecutorType(enum.Enum):
    """``ExecutorInfo.Type``."""

    UNKNOWN = 0
    DEFAULT = 1
    CUSTOM = 2


@dataclass(kw_only=True)
class ExecutorInfo:
    """A (custom or default) executor that runs tasks."""

    type: ExecutorType | None = None
    executor_id: ExecutorID
    framework_id: FrameworkID | None = None
    command: CommandInfo | None = None
    container: ContainerInfo | None = None
    resources: list[Resource] = field(default_factory=list)
    name: str | None = None
    source: str | None = None
    """Deprecated."""
    data: bytes | None = None
    discovery: DiscoveryInfo | None = None
    shutdown_grace_period: DurationInfo | None = None
    labels: Labels | None = None


@dataclass(kw_only=True)
class TaskInfo:
    """A task: exactly one of ``command`` and ``executor`` (see ``dockyard.validation``).

    ``agent_id`` is required by Mesos (its master fills it in from the offer); dockyard
    has no master, so it is optional here and the agent fills it in.
    """

    name: str
    task_id: TaskID
    agent_id: AgentID | None = field(default=None, metadata={"v0": "slave_id"})
    resources: list[Resource] = field(default_factory=list)
    executor: ExecutorInfo | None = None
    command: CommandInfo | None = None
    container: ContainerInfo | None = None
    health_check: HealthCheck | None = None
    check: CheckInfo | None = None
    kill_policy: KillPolicy | None = None
    data: bytes | None = None
    labels: Labels | None = None
    discovery: DiscoveryInfo | None = None
    max_completion_time: DurationInfo | None = None
    limits: dict[str, Scalar] = field(default_factory=dict)


@dataclass(kw_only=True)
class TaskGroupInfo:
    """Tasks launched together in one executor (``LAUNCH_GROUP``)."""

    tasks: list[TaskInfo] = field(default_factory=list)
