"""The v1 agent operator API (``POST /api/v1``): ``Call``, ``Response`` and ``Event`` bodies.

Mesos's ``agent.proto`` nests these as ``Call.LaunchContainer``, ``Response.GetContainers``
and so on; here call bodies keep the plain name and response bodies end in ``Response``.
Dockyard adds ``LAUNCH_TASK``, ``KILL_TASK`` and ``SUBSCRIBE`` because it has no master.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.command import CommandInfo
from dockyard.messages.common import Labels
from dockyard.messages.container import ContainerInfo
from dockyard.messages.framework import AgentInfo, FrameworkInfo
from dockyard.messages.ids import AgentID, ContainerID, ExecutorID, FrameworkID, TaskID
from dockyard.messages.mapping import Int32, UInt32
from dockyard.messages.resources import Resource, Scalar
from dockyard.messages.status import (
    ContainerStatus,
    Reason,
    ResourceStatistics,
    TaskResourceLimitation,
    TaskState,
    TaskStatus,
)
from dockyard.messages.tasks import (
    CheckInfo,
    DiscoveryInfo,
    ExecutorInfo,
    HealthCheck,
    KillPolicy,
    TaskInfo,
)


class CallType(enum.Enum):
    """``agent.Call.Type``, plus dockyard's own calls (numbered above Mesos's)."""

    UNKNOWN = 0
    GET_HEALTH = 1
    GET_FLAGS = 2
    GET_VERSION = 3
    GET_METRICS = 4
    GET_LOGGING_LEVEL = 5
    SET_LOGGING_LEVEL = 6
    LIST_FILES = 7
    READ_FILE = 8
    GET_STATE = 9
    GET_CONTAINERS = 10
    GET_FRAMEWORKS = 11
    GET_EXECUTORS = 12
    GET_OPERATIONS = 31
    GET_TASKS = 13
    GET_AGENT = 20
    GET_RESOURCE_PROVIDERS = 26
    LAUNCH_NESTED_CONTAINER = 14
    WAIT_NESTED_CONTAINER = 15
    KILL_NESTED_CONTAINER = 16
    REMOVE_NESTED_CONTAINER = 21
    LAUNCH_NESTED_CONTAINER_SESSION = 17
    ATTACH_CONTAINER_INPUT = 18
    ATTACH_CONTAINER_OUTPUT = 19
    LAUNCH_CONTAINER = 22
    WAIT_CONTAINER = 23
    KILL_CONTAINER = 24
    REMOVE_CONTAINER = 25
    ADD_RESOURCE_PROVIDER_CONFIG = 27
    UPDATE_RESOURCE_PROVIDER_CONFIG = 28
    REMOVE_RESOURCE_PROVIDER_CONFIG = 29
    MARK_RESOURCE_PROVIDER_GONE = 32
    PRUNE_IMAGES = 30
    LAUNCH_TASK = 1000
    KILL_TASK = 1001
    SUBSCRIBE = 1002
    PRUNE_SANDBOXES = 1003
    GET_PLUGINS = 1004


@dataclass(kw_only=True)
class GetContainers:
    """``Call.GetContainers``: which non-executor containers to list too."""

    show_nested: bool | None = None
    show_standalone: bool | None = None


@dataclass(kw_only=True)
class LaunchContainer:
    """``Call.LaunchContainer``: a standalone (or nested) container."""

    container_id: ContainerID
    command: CommandInfo | None = None
    resources: list[Resource] = field(default_factory=list)
    container: ContainerInfo | None = None
    limits: dict[str, Scalar] = field(default_factory=dict)


@dataclass(kw_only=True)
class WaitContainer:
    """``Call.WaitContainer``."""

    container_id: ContainerID


@dataclass(kw_only=True)
class KillContainer:
    """``Call.KillContainer``; Mesos sends SIGKILL when ``signal`` is unset."""

    container_id: ContainerID
    signal: Int32 | None = None


@dataclass(kw_only=True)
class RemoveContainer:
    """``Call.RemoveContainer``."""

    container_id: ContainerID


@dataclass(kw_only=True)
class LaunchTask:
    """Dockyard's ``LAUNCH_TASK``: run a task, as a master would have asked."""

    task: TaskInfo
    framework_info: FrameworkInfo | None = None


@dataclass(kw_only=True)
class KillTask:
    """Dockyard's ``KILL_TASK``; ``kill_policy`` overrides the task's own."""

    task_id: TaskID
    kill_policy: KillPolicy | None = None


@dataclass(kw_only=True)
class Call:
    """A request to ``POST /api/v1``: ``type`` names which body field is used."""

    type: CallType
    get_containers: GetContainers | None = None
    launch_container: LaunchContainer | None = None
    wait_container: WaitContainer | None = None
    kill_container: KillContainer | None = None
    remove_container: RemoveContainer | None = None
    launch_task: LaunchTask | None = None
    kill_task: KillTask | None = None


class ResponseType(enum.Enum):
    """``agent.Response.Type``."""

    UNKNOWN = 0
    GET_HEALTH = 1
    GET_FLAGS = 2
    GET_VERSION = 3
    GET_METRICS = 4
    GET_LOGGING_LEVEL = 5
    LIST_FILES = 6
    READ_FILE = 7
    GET_STATE = 8
    GET_CONTAINERS = 9
    GET_FRAMEWORKS = 10
    GET_EXECUTORS = 11
    GET_OPERATIONS = 17
    GET_TASKS = 12
    GET_AGENT = 14
    GET_RESOURCE_PROVIDERS = 16
    WAIT_NESTED_CONTAINER = 13
    WAIT_CONTAINER = 15
    PRUNE_SANDBOXES = 1003
    GET_PLUGINS = 1004


@dataclass(kw_only=True)
class PruneSandboxesResponse:
    """dockyard's ``PRUNE_SANDBOXES``: how many completed sandboxes were removed."""

    removed: UInt32


@dataclass(kw_only=True)
class PluginEntry:
    """dockyard's ``GET_PLUGINS``: one installed plugin, as ``dockyard plugins`` shows it."""

    name: str
    group: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    enabled: bool = False
    """Started by this agent (named by its flags), not merely installed."""


@dataclass(kw_only=True)
class BrokenPluginEntry:
    """An installed plugin that failed to load or register, and why."""

    name: str
    group: str
    distribution: str
    version: str
    error: str


@dataclass(kw_only=True)
class GetPluginsResponse:
    plugins: list[PluginEntry] = field(default_factory=list)
    broken: list[BrokenPluginEntry] = field(default_factory=list)


@dataclass(kw_only=True)
class GetHealthResponse:
    healthy: bool


@dataclass(kw_only=True)
class Flag:
    name: str
    value: str | None = None


@dataclass(kw_only=True)
class GetFlagsResponse:
    flags: list[Flag] = field(default_factory=list)


@dataclass(kw_only=True)
class VersionInfo:
    version: str
    build_date: str | None = None
    build_time: float | None = None
    build_user: str | None = None
    git_sha: str | None = None
    git_branch: str | None = None
    git_tag: str | None = None


@dataclass(kw_only=True)
class GetVersionResponse:
    version_info: VersionInfo


@dataclass(kw_only=True)
class ContainerEntry:
    """``Response.GetContainers.Container``; executor fields are unset for standalone ones."""

    framework_id: FrameworkID | None = None
    executor_id: ExecutorID | None = None
    executor_name: str | None = None
    container_id: ContainerID
    container_status: ContainerStatus | None = None
    resource_statistics: ResourceStatistics | None = None


@dataclass(kw_only=True)
class GetContainersResponse:
    containers: list[ContainerEntry] = field(default_factory=list)


@dataclass(kw_only=True)
class WaitContainerResponse:
    """How a container ended; ``exit_status`` is the raw ``wait(2)`` status."""

    exit_status: Int32 | None = None
    state: TaskState | None = None
    reason: Reason | None = None
    limitation: TaskResourceLimitation | None = None
    message: str | None = None


@dataclass(kw_only=True)
class Task:
    """A task as the agent tracks it (``mesos.proto`` ``Task``).

    ``container_id``, ``sandbox_directory`` and ``containerizer`` are dockyard additions
    (Mesos clients ignore unknown keys) so that an operator can find a task's container
    and files, and which plugin runs it.
    """

    name: str
    task_id: TaskID
    framework_id: FrameworkID
    executor_id: ExecutorID | None = None
    agent_id: AgentID = field(metadata={"v0": "slave_id"})
    state: TaskState
    resources: list[Resource] = field(default_factory=list)
    limits: dict[str, Scalar] = field(default_factory=dict)
    statuses: list[TaskStatus] = field(default_factory=list)
    status_update_state: TaskState | None = None
    status_update_uuid: bytes | None = None
    labels: Labels | None = None
    discovery: DiscoveryInfo | None = None
    container: ContainerInfo | None = None
    health_check: HealthCheck | None = None
    check: CheckInfo | None = None
    kill_policy: KillPolicy | None = None
    user: str | None = None
    container_id: ContainerID | None = None
    sandbox_directory: str | None = None
    containerizer: str | None = None


@dataclass(kw_only=True)
class GetTasksResponse:
    pending_tasks: list[Task] = field(default_factory=list)
    queued_tasks: list[Task] = field(default_factory=list)
    launched_tasks: list[Task] = field(default_factory=list)
    terminated_tasks: list[Task] = field(default_factory=list)
    completed_tasks: list[Task] = field(default_factory=list)


@dataclass(kw_only=True)
class ExecutorEntry:
    """``Response.GetExecutors.Executor``."""

    executor_info: ExecutorInfo


@dataclass(kw_only=True)
class GetExecutorsResponse:
    executors: list[ExecutorEntry] = field(default_factory=list)
    completed_executors: list[ExecutorEntry] = field(default_factory=list)


@dataclass(kw_only=True)
class FrameworkEntry:
    """``Response.GetFrameworks.Framework``."""

    framework_info: FrameworkInfo


@dataclass(kw_only=True)
class GetFrameworksResponse:
    frameworks: list[FrameworkEntry] = field(default_factory=list)
    completed_frameworks: list[FrameworkEntry] = field(default_factory=list)


@dataclass(kw_only=True)
class GetStateResponse:
    get_tasks: GetTasksResponse | None = None
    get_executors: GetExecutorsResponse | None = None
    get_frameworks: GetFrameworksResponse | None = None


@dataclass(kw_only=True)
class GetAgentResponse:
    agent_info: AgentInfo | None = None


@dataclass(kw_only=True)
class Response:
    """A synchronous answer of ``POST /api/v1``: ``type`` names the body field."""

    type: ResponseType
    get_health: GetHealthResponse | None = None
    get_flags: GetFlagsResponse | None = None
    get_version: GetVersionResponse | None = None
    get_state: GetStateResponse | None = None
    get_containers: GetContainersResponse | None = None
    get_frameworks: GetFrameworksResponse | None = None
    get_executors: GetExecutorsResponse | None = None
    get_tasks: GetTasksResponse | None = None
    get_agent: GetAgentResponse | None = None
    wait_container: WaitContainerResponse | None = None
    prune_sandboxes: PruneSandboxesResponse | None = None
    get_plugins: GetPluginsResponse | None = None


class EventType(enum.Enum):
    """Events of dockyard's ``SUBSCRIBE`` stream (numbers as in Mesos's master ``Event``)."""

    UNKNOWN = 0
    SUBSCRIBED = 1
    TASK_UPDATED = 3
    HEARTBEAT = 9
    ERROR = 1000
    """dockyard's: the last event of a stream the agent ends, saying why."""


@dataclass(kw_only=True)
class EventError:
    message: str


@dataclass(kw_only=True)
class Subscribed:
    """``Event.Subscribed``: the state at subscription time."""

    get_state: GetStateResponse | None = None
    heartbeat_interval_seconds: float | None = None


@dataclass(kw_only=True)
class TaskUpdated:
    """``Event.TaskUpdated``: a task's new status."""

    framework_id: FrameworkID
    status: TaskStatus
    state: TaskState


@dataclass(kw_only=True)
class Event:
    """One RecordIO record of the ``SUBSCRIBE`` stream."""

    type: EventType
    subscribed: Subscribed | None = None
    task_updated: TaskUpdated | None = None
    error: EventError | None = None
