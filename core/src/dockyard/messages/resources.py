"""Resources (``Resource``, ``Value``) and agent attributes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.common import Labels
from dockyard.messages.container import Volume
from dockyard.messages.ids import ResourceProviderID
from dockyard.messages.mapping import UInt64


class ValueType(enum.Enum):
    """``Value.Type``."""

    SCALAR = 0
    RANGES = 1
    SET = 2
    TEXT = 3


@dataclass(kw_only=True)
class Scalar:
    """``Value.Scalar``; limits may be ``inf``."""

    value: float


@dataclass(kw_only=True)
class Range:
    """``Value.Range``: ``begin`` to ``end`` inclusive."""

    begin: UInt64
    end: UInt64


@dataclass(kw_only=True)
class Ranges:
    """``Value.Ranges``."""

    range: list[Range] = field(default_factory=list)


@dataclass(kw_only=True)
class ValueSet:
    """``Value.Set``."""

    item: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Text:
    """``Value.Text``."""

    value: str


@dataclass(kw_only=True)
class AllocationInfo:
    """``Resource.AllocationInfo``: the role the resource is allocated to."""

    role: str | None = None


class ReservationType(enum.Enum):
    """``Resource.ReservationInfo.Type``."""

    UNKNOWN = 0
    STATIC = 1
    DYNAMIC = 2


@dataclass(kw_only=True)
class ReservationInfo:
    """``Resource.ReservationInfo``."""

    type: ReservationType | None = None
    role: str | None = None
    principal: str | None = None
    labels: Labels | None = None


@dataclass(kw_only=True)
class Persistence:
    """``Resource.DiskInfo.Persistence``: marks a persistent volume."""

    id: str
    principal: str | None = None


class DiskSourceType(enum.Enum):
    """``Resource.DiskInfo.Source.Type``."""

    UNKNOWN = 0
    PATH = 1
    MOUNT = 2
    BLOCK = 3
    RAW = 4


@dataclass(kw_only=True)
class DiskSourceRoot:
    """``Resource.DiskInfo.Source.Path`` and ``.Mount`` (both just a ``root``)."""

    root: str | None = None


@dataclass(kw_only=True)
class DiskSource:
    """``Resource.DiskInfo.Source``."""

    type: DiskSourceType
    path: DiskSourceRoot | None = None
    mount: DiskSourceRoot | None = None
    vendor: str | None = None
    id: str | None = None
    metadata: Labels | None = None
    profile: str | None = None


@dataclass(kw_only=True)
class DiskInfo:
    """``Resource.DiskInfo``."""

    persistence: Persistence | None = None
    volume: Volume | None = None
    source: DiskSource | None = None


@dataclass(kw_only=True)
class RevocableInfo:
    """``Resource.RevocableInfo``: present (empty) on revocable resources."""


@dataclass(kw_only=True)
class SharedInfo:
    """``Resource.SharedInfo``: present (empty) on shared resources."""


@dataclass(kw_only=True)
class Resource:
    """One named resource; ``type`` says which of ``scalar``/``ranges``/``set`` holds it."""

    provider_id: ResourceProviderID | None = None
    name: str
    type: ValueType
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    role: str | None = None
    """Deprecated (proto default ``"*"``, never written); see ``allocation_info``."""
    allocation_info: AllocationInfo | None = None
    reservation: ReservationInfo | None = None
    """Legacy single reservation; see ``reservations``."""
    reservations: list[ReservationInfo] = field(default_factory=list)
    disk: DiskInfo | None = None
    revocable: RevocableInfo | None = None
    shared: SharedInfo | None = None


@dataclass(kw_only=True)
class Attribute:
    """An agent attribute (``Attribute``): a named value of ``type``."""

    name: str
    type: ValueType
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    text: Text | None = None
