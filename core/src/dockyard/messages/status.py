"""What happened to a task: ``TaskStatus`` and what it carries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.common import Labels, TimeInfo
from dockyard.messages.container import NetworkInfo
from dockyard.messages.ids import AgentID, ContainerID, ExecutorID, TaskID
from dockyard.messages.mapping import Int32, UInt32, UInt64
from dockyard.messages.resources import Resource
from dockyard.messages.tasks import CheckType


class TaskState(enum.Enum):
    TASK_STAGING = 6
    TASK_STARTING = 0
    TASK_RUNNING = 1
    TASK_KILLING = 8
    TASK_FINISHED = 2
    TASK_FAILED = 3
    TASK_KILLED = 4
    TASK_ERROR = 7
    TASK_LOST = 5
    TASK_DROPPED = 9
    TASK_UNREACHABLE = 10
    TASK_GONE = 11
    TASK_GONE_BY_OPERATOR = 12
    TASK_UNKNOWN = 13

    @property
    def is_terminal(self) -> bool:
        """Whether no further update follows (Mesos's ``protobuf::isTerminalState``)."""
        return self in _TERMINAL_STATES


_TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
    }
)


class StatusSource(enum.Enum):
    """``TaskStatus.Source``; the v0 name ``SOURCE_SLAVE`` is read as ``SOURCE_AGENT``."""

    SOURCE_MASTER = 0
    SOURCE_AGENT = 1
    SOURCE_EXECUTOR = 2
    SOURCE_SLAVE = 1


class Reason(enum.Enum):
    """``TaskStatus.Reason`` with v1 names; v0 ``REASON_SLAVE_*`` names are aliases."""

    REASON_COMMAND_EXECUTOR_FAILED = 0
    REASON_CONTAINER_LAUNCH_FAILED = 21
    REASON_CONTAINER_LIMITATION = 19
    REASON_CONTAINER_LIMITATION_DISK = 20
    REASON_CONTAINER_LIMITATION_MEMORY = 8
    REASON_CONTAINER_PREEMPTED = 17
    REASON_CONTAINER_UPDATE_FAILED = 22
    REASON_MAX_COMPLETION_TIME_REACHED = 33
    REASON_EXECUTOR_REGISTRATION_TIMEOUT = 23
    REASON_EXECUTOR_REREGISTRATION_TIMEOUT = 24
    REASON_EXECUTOR_TERMINATED = 1
    REASON_EXECUTOR_UNREGISTERED = 2
    REASON_FRAMEWORK_REMOVED = 3
    REASON_GC_ERROR = 4
    REASON_INVALID_FRAMEWORKID = 5
    REASON_INVALID_OFFERS = 6
    REASON_IO_SWITCHBOARD_EXITED = 27
    REASON_MASTER_DISCONNECTED = 7
    REASON_RECONCILIATION = 9
    REASON_RESOURCES_UNKNOWN = 18
    REASON_AGENT_DISCONNECTED = 10
    REASON_AGENT_REMOVED = 11
    REASON_AGENT_REMOVED_BY_OPERATOR = 31
    REASON_AGENT_REREGISTERED = 32
    REASON_AGENT_RESTARTED = 12
    REASON_AGENT_UNKNOWN = 13
    REASON_AGENT_DRAINING = 34
    REASON_TASK_KILLED_DURING_LAUNCH = 30
    REASON_TASK_CHECK_STATUS_UPDATED = 28
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = 29
    REASON_TASK_GROUP_INVALID = 25
    REASON_TASK_GROUP_UNAUTHORIZED = 26
    REASON_TASK_INVALID = 14
    REASON_TASK_UNAUTHORIZED = 15
    REASON_TASK_UNKNOWN = 16
    REASON_SLAVE_DISCONNECTED = 10
    REASON_SLAVE_REMOVED = 11
    REASON_SLAVE_REMOVED_BY_OPERATOR = 31
    REASON_SLAVE_REREGISTERED = 32
    REASON_SLAVE_RESTARTED = 12
    REASON_SLAVE_UNKNOWN = 13
    REASON_SLAVE_DRAINING = 34


@dataclass(kw_only=True)
class CommandCheckStatus:
    """``CheckStatusInfo.Command``."""

    exit_code: Int32 | None = None


@dataclass(kw_only=True)
class HttpCheckStatus:
    """``CheckStatusInfo.Http``."""

    status_code: UInt32 | None = None


@dataclass(kw_only=True)
class TcpCheckStatus:
    """``CheckStatusInfo.Tcp``."""

    succeeded: bool | None = None


@dataclass(kw_only=True)
class CheckStatusInfo:
    """The latest result of a task's ``CheckInfo``."""

    type: CheckType | None = None
    command: CommandCheckStatus | None = None
    http: HttpCheckStatus | None = None
    tcp: TcpCheckStatus | None = None


@dataclass(kw_only=True)
class TaskResourceLimitation:
    """The resources whose limit a container hit (e.g. ``mem`` on OOM)."""

    resources: list[Resource] = field(default_factory=list)


@dataclass(kw_only=True)
class NetClsInfo:
    """``CgroupInfo.NetCls``."""

    classid: UInt32 | None = None


@dataclass(kw_only=True)
class CgroupInfo:
    net_cls: NetClsInfo | None = None


@dataclass(kw_only=True)
class ContainerStatus:
    """What a containerizer knows about a running container (IPs, cgroups, pid)."""

    container_id: ContainerID | None = None
    network_infos: list[NetworkInfo] = field(default_factory=list)
    cgroup_info: CgroupInfo | None = None
    executor_pid: UInt32 | None = None


@dataclass(kw_only=True)
class TaskStatus:
    """A status update of one task."""

    task_id: TaskID
    state: TaskState
    message: str | None = None
    source: StatusSource | None = None
    reason: Reason | None = None
    data: bytes | None = None
    agent_id: AgentID | None = field(default=None, metadata={"v0": "slave_id"})
    executor_id: ExecutorID | None = None
    timestamp: float | None = None
    uuid: bytes | None = None
    healthy: bool | None = None
    check_status: CheckStatusInfo | None = None
    labels: Labels | None = None
    container_status: ContainerStatus | None = None
    unreachable_time: TimeInfo | None = None
    limitation: TaskResourceLimitation | None = None


@dataclass(kw_only=True)
class ResourceStatistics:
    """A usage snapshot of a container (the subset of Mesos's fields that dockyard fills)."""

    timestamp: float
    processes: UInt32 | None = None
    threads: UInt32 | None = None
    cpus_user_time_secs: float | None = None
    cpus_system_time_secs: float | None = None
    cpus_limit: float | None = None
    cpus_soft_limit: float | None = None
    cpus_nr_periods: UInt32 | None = None
    cpus_nr_throttled: UInt32 | None = None
    cpus_throttled_time_secs: float | None = None
    mem_total_bytes: UInt64 | None = None
    mem_total_memsw_bytes: UInt64 | None = None
    mem_limit_bytes: UInt64 | None = None
    mem_soft_limit_bytes: UInt64 | None = None
    mem_file_bytes: UInt64 | None = None
    mem_anon_bytes: UInt64 | None = None
    mem_cache_bytes: UInt64 | None = None
    mem_rss_bytes: UInt64 | None = None
    mem_mapped_file_bytes: UInt64 | None = None
    mem_swap_bytes: UInt64 | None = None
    mem_unevictable_bytes: UInt64 | None = None
    disk_limit_bytes: UInt64 | None = None
    disk_used_bytes: UInt64 | None = None
    net_rx_packets: UInt64 | None = None
    net_rx_bytes: UInt64 | None = None
    net_rx_errors: UInt64 | None = None
    net_rx_dropped: UInt64 | None = None
    net_tx_packets: UInt64 | None = None
    net_tx_bytes: UInt64 | None = None
    net_tx_errors: UInt64 | None = None
    net_tx_dropped: UInt64 | None = None
