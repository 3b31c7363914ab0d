"""What to run: ``CommandInfo`` with its URIs and environment."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.common import Secret


@dataclass(kw_only=True)
class URI:
    """``CommandInfo.URI``: a file the fetcher puts into the sandbox."""

    value: str
    executable: bool | None = None
    extract: bool = True
    cache: bool | None = None
    output_file: str | None = None


class VariableType(enum.Enum):
    UNKNOWN = 0
    VALUE = 1
    SECRET = 2


@dataclass(kw_only=True)
class EnvironmentVariable:
    """``Environment.Variable``: ``value`` for VALUE, ``secret`` for SECRET."""

    name: str
    type: VariableType = VariableType.VALUE
    value: str | None = None
    secret: Secret | None = None


@dataclass(kw_only=True)
class Environment:
    variables: list[EnvironmentVariable] = field(default_factory=list)


@dataclass(kw_only=True)
class CommandInfo:
    """A command: with ``shell`` (the default) ``value`` runs under ``/bin/sh -c``."""

    uris: list[URI] = field(default_factory=list)
    environment: Environment | None = None
    shell: bool = True
    value: str | None = None
    arguments: list[str] = field(default_factory=list)
    user: str | None = None
