"""Small messages shared by many others: durations, labels, parameters, secrets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.mapping import Int64


@dataclass(kw_only=True)
class DurationInfo:
    nanoseconds: Int64


@dataclass(kw_only=True)
class TimeInfo:
    nanoseconds: Int64


@dataclass(kw_only=True)
class Label:
    key: str
    value: str | None = None


@dataclass(kw_only=True)
class Labels:
    labels: list[Label] = field(default_factory=list)


@dataclass(kw_only=True)
class Parameter:
    key: str
    value: str


@dataclass(kw_only=True)
class Parameters:
    parameter: list[Parameter] = field(default_factory=list)


class SecretType(enum.Enum):
    UNKNOWN = 0
    REFERENCE = 1
    VALUE = 2


@dataclass(kw_only=True)
class SecretReference:
    """``Secret.Reference``: a secret resolved by a secret resolver module."""

    name: str
    key: str | None = None


@dataclass(kw_only=True)
class SecretValue:
    """``Secret.Value``: the secret inline (kept out of ``repr`` so it never reaches logs)."""

    data: bytes = field(repr=False)


@dataclass(kw_only=True)
class Secret:
    type: SecretType | None = None
    reference: SecretReference | None = None
    value: SecretValue | None = None
