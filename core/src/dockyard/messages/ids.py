"""Identifiers (``mesos.proto``'s ``*ID`` messages)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(kw_only=True)
class TaskID:
    value: str


@dataclass(kw_only=True)
class ExecutorID:
    value: str


@dataclass(kw_only=True)
class FrameworkID:
    value: str


@dataclass(kw_only=True)
class AgentID:
    """v1 name of ``SlaveID``."""

    value: str


@dataclass(kw_only=True)
class OfferID:
    value: str


@dataclass(kw_only=True)
class ResourceProviderID:
    value: str


@dataclass(kw_only=True)
class ContainerID:
    """A container; a nested container names its ``parent``.

    Mesos writes the chain as ``<root>.<child>...``, see :meth:`__str__`.
    """

    value: str
    parent: ContainerID | None = field(default=None)

    def __str__(self) -> str:
        return self.value if self.parent is None else f"{self.parent}.{self.value}"
