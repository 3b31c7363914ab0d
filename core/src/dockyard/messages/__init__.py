"""Mesos JSON messages as typed dataclasses, read and written by Mesos's JSON rules.

Each class is named after its proto message (nested messages get a flat name, e.g.
``EnvironmentVariable`` for ``Environment.Variable``); its marshmallow schema is derived
from the dataclass by :mod:`dockyard.messages.mapping`. Use :func:`load`/:func:`loads`
to read JSON (bad input raises :class:`MessageError` with the JSON path of every
problem) and :func:`dump`/:func:`dumps` to write it. Semantic checks that Mesos does
beyond the JSON shape live in :mod:`dockyard.validation`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import marshmallow as ma

from dockyard.messages.command import (
    URI,
    CommandInfo,
    Environment,
    EnvironmentVariable,
    VariableType,
)
from dockyard.messages.common import (
    DurationInfo,
    Label,
    Labels,
    Parameter,
    Parameters,
    Secret,
    SecretReference,
    SecretType,
    SecretValue,
    TimeInfo,
)
from dockyard.messages.container import (
    AppcImage,
    Capability,
    CapabilityInfo,
    ContainerInfo,
    ContainerType,
    Credential,
    DockerImage,
    DockerInfo,
    DockerNetwork,
    DockerPortMapping,
    DockerVolume,
    HostPathSource,
    Image,
    ImageType,
    IPAddress,
    IPCMode,
    IPProtocol,
    LinuxInfo,
    MesosInfo,
    MountPropagation,
    MountPropagationMode,
    NetworkInfo,
    PortMapping,
    RLimit,
    RLimitInfo,
    RLimitType,
    SandboxPath,
    SandboxPathType,
    SeccompInfo,
    TTYInfo,
    Volume,
    VolumeMode,
    VolumeSource,
    VolumeSourceType,
    WindowSize,
)
from dockyard.messages.errors import MessageError
from dockyard.messages.framework import (
    AgentInfo,
    DomainInfo,
    DomainName,
    FaultDomain,
    FrameworkCapability,
    FrameworkCapabilityType,
    FrameworkInfo,
)
from dockyard.messages.ids import (
    AgentID,
    ContainerID,
    ExecutorID,
    FrameworkID,
    OfferID,
    ResourceProviderID,
    TaskID,
)
from dockyard.messages.mapping import schema_for
from dockyard.messages.operator import (
    Call,
    CallType,
    ContainerEntry,
    Event,
    EventType,
    ExecutorEntry,
    Flag,
    FrameworkEntry,
    GetAgentResponse,
    GetContainers,
    GetContainersResponse,
    GetExecutorsResponse,
    GetFlagsResponse,
    GetFrameworksResponse,
    GetHealthResponse,
    GetStateResponse,
    GetTasksResponse,
    GetVersionResponse,
    KillContainer,
    KillTask,
    LaunchContainer,
    LaunchTask,
    RemoveContainer,
    Response,
    ResponseType,
    Subscribed,
    Task,
    TaskUpdated,
    VersionInfo,
    WaitContainer,
    WaitContainerResponse,
)
from dockyard.messages.resources import (
    AllocationInfo,
    Attribute,
    DiskInfo,
    DiskSource,
    DiskSourceRoot,
    DiskSourceType,
    Persistence,
    Range,
    Ranges,
    ReservationInfo,
    ReservationType,
    Resource,
    RevocableInfo,
    Scalar,
    SharedInfo,
    Text,
    ValueSet,
    ValueType,
)
from dockyard.messages.status import (
    CgroupInfo,
    CheckStatusInfo,
    CommandCheckStatus,
    ContainerStatus,
    HttpCheckStatus,
    NetClsInfo,
    Reason,
    ResourceStatistics,
    StatusSource,
    TaskResourceLimitation,
    TaskState,
    TaskStatus,
    TcpCheckStatus,
)
from dockyard.messages.tasks import (
    CheckInfo,
    CheckType,
    CommandCheck,
    DiscoveryInfo,
    DiscoveryVisibility,
    ExecutorInfo,
    ExecutorType,
    HealthCheck,
    HttpCheck,
    HTTPCheckInfo,
    KillPolicy,
    Port,
    Ports,
    TaskGroupInfo,
    TaskInfo,
    TcpCheck,
    TCPCheckInfo,
)

Message = TypeVar("Message")


def load(cls: type[Message], data: Any, *, path: str = "") -> Message:
    """Read ``cls`` from parsed JSON; ``path`` names the root in error messages."""
    try:
        message: Message = schema_for(cls).load(data)
    except ma.ValidationError as error:
        raise MessageError.from_tree(error.messages, [path] if path else []) from None
    return message


def loads(cls: type[Message], text: str | bytes, *, path: str = "") -> Message:
    """Read ``cls`` from JSON text."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise MessageError.at(path, f"not valid JSON ({error})") from None
    return load(cls, data, path=path)


def dump(message: object) -> dict[str, Any]:
    """Mesos JSON (as a dict) of a message."""
    data: dict[str, Any] = schema_for(type(message)).dump(message)
    return data


def dumps(message: object) -> str:
    """Mesos JSON text of a message."""
    return json.dumps(dump(message), allow_nan=False)


__all__ = [
    "URI",
    "AgentID",
    "AgentInfo",
    "AllocationInfo",
    "AppcImage",
    "Attribute",
    "Call",
    "CallType",
    "Capability",
    "CapabilityInfo",
    "CgroupInfo",
    "CheckInfo",
    "CheckStatusInfo",
    "CheckType",
    "CommandCheck",
    "CommandCheckStatus",
    "CommandInfo",
    "ContainerEntry",
    "ContainerID",
    "ContainerInfo",
    "ContainerStatus",
    "ContainerType",
    "Credential",
    "DiscoveryInfo",
    "DiscoveryVisibility",
    "DiskInfo",
    "DiskSource",
    "DiskSourceRoot",
    "DiskSourceType",
    "DockerImage",
    "DockerInfo",
    "DockerNetwork",
    "DockerPortMapping",
    "DockerVolume",
    "DomainInfo",
    "DomainName",
    "DurationInfo",
    "Environment",
    "EnvironmentVariable",
    "Event",
    "EventType",
    "ExecutorEntry",
    "ExecutorID",
    "ExecutorInfo",
    "ExecutorType",
    "FaultDomain",
    "Flag",
    "FrameworkCapability",
    "FrameworkCapabilityType",
    "FrameworkEntry",
    "FrameworkID",
    "FrameworkInfo",
    "GetAgentResponse",
    "GetContainers",
    "GetContainersResponse",
    "GetExecutorsResponse",
    "GetFlagsResponse",
    "GetFrameworksResponse",
    "GetHealthResponse",
    "GetStateResponse",
    "GetTasksResponse",
    "GetVersionResponse",
    "HTTPCheckInfo",
    "HealthCheck",
    "HostPathSource",
    "HttpCheck",
    "HttpCheckStatus",
    "IPAddress",
    "IPCMode",
    "IPProtocol",
    "Image",
    "ImageType",
    "KillContainer",
    "KillPolicy",
    "KillTask",
    "Label",
    "Labels",
    "LaunchContainer",
    "LaunchTask",
    "LinuxInfo",
    "MesosInfo",
    "MessageError",
    "MountPropagation",
    "MountPropagationMode",
    "NetClsInfo",
    "NetworkInfo",
    "OfferID",
    "Parameter",
    "Parameters",
    "Persistence",
    "Port",
    "PortMapping",
    "Ports",
    "RLimit",
    "RLimitInfo",
    "RLimitType",
    "Range",
    "Ranges",
    "Reason",
    "RemoveContainer",
    "ReservationInfo",
    "ReservationType",
    "Resource",
    "ResourceProviderID",
    "ResourceStatistics",
    "Response",
    "ResponseType",
    "RevocableInfo",
    "SandboxPath",
    "SandboxPathType",
    "Scalar",
    "SeccompInfo",
    "Secret",
    "SecretReference",
    "SecretType",
    "SecretValue",
    "SharedInfo",
    "StatusSource",
    "Subscribed",
    "TCPCheckInfo",
    "TTYInfo",
    "Task",
    "TaskGroupInfo",
    "TaskID",
    "TaskInfo",
    "TaskResourceLimitation",
    "TaskState",
    "TaskStatus",
    "TaskUpdated",
    "TcpCheck",
    "TcpCheckStatus",
    "Text",
    "TimeInfo",
    "ValueSet",
    "ValueType",
    "VariableType",
    "VersionInfo",
    "Volume",
    "VolumeMode",
    "VolumeSource",
    "VolumeSourceType",
    "WaitContainer",
    "WaitContainerResponse",
    "WindowSize",
    "dump",
    "dumps",
    "load",
    "loads",
]
