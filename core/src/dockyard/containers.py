"""The objects that pass between the core and containerizer plugins.

These mirror Mesos's internal containerizer messages (``ContainerConfig``,
``ContainerTermination``) so that a plugin author who knows Mesos recognises them,
but they are plain typed dataclasses rather than wire messages: they never leave
the agent process except through the checkpoint (``handle``) and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.logfiles import Rotation as Rotation  # a FileOutput's rotation, re-exported
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    ContainerInfo,
    ContainerStatus,
    ExecutorInfo,
    FrameworkInfo,
    Reason,
    Resource,
    Scalar,
    TaskInfo,
    TaskState,
)

if TYPE_CHECKING:
    from dockyard.flags import Flags


@dataclass(frozen=True, kw_only=True)
class FileOutput:
    """Write a stream into the file ``path``, rotated if ``rotation`` is given.

    Without rotation a native task writes the file itself (opened for appending);
    with it, the containerizer reads the stream and writes and rotates the files.
    """

    path: Path
    rotation: Rotation | None = None


@dataclass(frozen=True, kw_only=True)
class UnixSocketOutput:
    """Send a stream to a unix stream socket (journald, syslog-ng, Vector...).

    The containerizer connects to ``path`` and sends ``preamble`` first (journald's
    stream header, for instance); a native task then writes to the socket itself.
    """

    path: Path
    preamble: bytes = b""


StreamOutput = FileOutput | UnixSocketOutput


@dataclass(frozen=True, kw_only=True)
class ContainerOutput:
    """Where a container's stdout and stderr go: a container logger's answer."""

    stdout: StreamOutput
    stderr: StreamOutput

    @classmethod
    def sandbox(cls, sandbox: Path) -> ContainerOutput:
        """The ``stdout`` and ``stderr`` files of the sandbox (Mesos's sandbox logger)."""
        return cls(
            stdout=FileOutput(path=sandbox / "stdout"), stderr=FileOutput(path=sandbox / "stderr")
        )


@dataclass(kw_only=True)
class ContainerConfig:
    """Everything a containerizer needs to run one container.

    ``command`` is already resolved (the task's command, or the executor's), and
    ``environment`` holds the variables the agent adds (``MESOS_*``); the plugin
    merges in ``command.environment`` itself, because only it knows how secrets
    reach its kind of container. ``output`` is where the container logger sends the
    container's stdout and stderr (None: the sandbox files, see :meth:`output_or_sandbox`).
    """

    container_id: ContainerID
    command: CommandInfo
    container_info: ContainerInfo | None = None
    resources: list[Resource] = field(default_factory=list)
    limits: dict[str, Scalar] = field(default_factory=dict)
    sandbox: Path
    user: str | None = None
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    kill_grace_period: timedelta | None = None
    task_info: TaskInfo | None = None
    executor_info: ExecutorInfo | None = None
    framework_info: FrameworkInfo | None = None
    output: ContainerOutput | None = None

    def output_or_sandbox(self) -> ContainerOutput:
        return self.output or ContainerOutput.sandbox(self.sandbox)


@dataclass(frozen=True)
class Support:
    """A containerizer's answer to "will you run this container?"."""

    accepted: bool
    reason: str = ""

    @classmethod
    def yes(cls) -> Support:
        return cls(True)

    @classmethod
    def no(cls, reason: str) -> Support:
        return cls(False, reason)


@dataclass(kw_only=True)
class Launched:
    """What a successful launch returns.

    ``handle`` is opaque to the core: it is checkpointed as JSON and handed back to
    the same plugin's ``recover`` after an agent restart (Nomad's task handle), so it
    must hold whatever the plugin needs to find the container again.
    """

    handle: dict[str, Any] = field(default_factory=dict)
    data: bytes | None = None
    container_status: ContainerStatus | None = None


@dataclass(kw_only=True)
class Termination:
    """How a container ended (Mesos's ``ContainerTermination``).

    ``status`` is the raw ``wait(2)`` status when there is one. ``state``,
    ``reason`` and ``message`` override the core's defaults (exit 0 is
    TASK_FINISHED, anything else TASK_FAILED).
    """

    status: int | None = None
    state: TaskState | None = None
    reason: Reason | None = None
    message: str = ""


@dataclass(kw_only=True)
class RecoveredContainer:
    """A container the agent checkpointed before it stopped, offered to ``recover``."""

    config: ContainerConfig
    handle: dict[str, Any]


@dataclass(kw_only=True)
class AgentContext:
    """What an enabled plugin learns about the agent when it starts."""

    flags: Flags
    agent_id: str
    work_dir: Path
    state_dir: Path
    """A directory private to this plugin (``<work_dir>/meta/plugins/<name>``)."""


class LaunchError(Exception):
    """A launch failed; the message becomes ``Failed to launch container: <message>``."""


class StartupError(Exception):
    """A plugin cannot start (e.g. no Docker daemon); the agent refuses to start."""
