"""Who asked and where it runs: ``FrameworkInfo`` and ``AgentInfo``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.common import Labels
from dockyard.messages.ids import AgentID, FrameworkID
from dockyard.messages.mapping import Int32
from dockyard.messages.resources import Attribute, Resource


class FrameworkCapabilityType(enum.Enum):
    """``FrameworkInfo.Capability.Type``."""

    UNKNOWN = 0
    REVOCABLE_RESOURCES = 1
    TASK_KILLING_STATE = 2
    GPU_RESOURCES = 3
    SHARED_RESOURCES = 4
    PARTITION_AWARE = 5
    MULTI_ROLE = 6
    RESERVATION_REFINEMENT = 7
    REGION_AWARE = 8


@dataclass(kw_only=True)
class FrameworkCapability:
    """``FrameworkInfo.Capability``."""

    type: FrameworkCapabilityType | None = None


@dataclass(kw_only=True)
class FrameworkInfo:
    """The framework a task belongs to (``offer_filters`` is not modelled)."""

    user: str
    name: str
    id: FrameworkID | None = None
    failover_timeout: float = 0.0
    checkpoint: bool = False
    role: str | None = None
    """Deprecated (proto default ``"*"``, never written); see ``roles``."""
    roles: list[str] = field(default_factory=list)
    hostname: str | None = None
    principal: str | None = None
    webui_url: str | None = None
    capabilities: list[FrameworkCapability] = field(default_factory=list)
    labels: Labels | None = None


@dataclass(kw_only=True)
class DomainName:
    """``DomainInfo.FaultDomain.RegionInfo`` and ``.ZoneInfo`` (both just a ``name``)."""

    name: str


@dataclass(kw_only=True)
class FaultDomain:
    """``DomainInfo.FaultDomain``."""

    region: DomainName
    zone: DomainName


@dataclass(kw_only=True)
class DomainInfo:
    fault_domain: FaultDomain | None = None


@dataclass(kw_only=True)
class AgentInfo:
    """This agent as frameworks and executors see it."""

    hostname: str
    port: Int32 = 5051
    resources: list[Resource] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    id: AgentID | None = None
    domain: DomainInfo | None = None
