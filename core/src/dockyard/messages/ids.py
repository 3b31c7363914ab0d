"""Identifiers (``mesos.proto``'s ``*ID`` messages), frozen so they can key dicts and sets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True, frozen=True)
class TaskID:
    value: str


@dataclass(kw_only=True, frozen=True)
class ExecutorID:
    value: str


@dataclass(kw_only=True, frozen=True)
class FrameworkID:
    value: str


@dataclass(kw_only=True, frozen=True)
class AgentID:
    """v1 name of ``SlaveID``."""

    value: str


@dataclass(kw_only=True, frozen=True)
class OfferID:
    value: str


@dataclass(kw_only=True, frozen=True)
class ResourceProviderID:
    value: str


@dataclass(kw_only=True, frozen=True)
class ContainerID:
    """A container; a nested container names its ``parent``.

    Mesos writes the chain as ``<root>.<child>...``, see :meth:`__str__`.
    """

    value: str
    parent: ContainerID | None = None

    def __str__(self) -> str:
        return self.value if self.parent is None else f"{self.parent}.{self.value}"
