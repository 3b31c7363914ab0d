"""What the plugin remembers about each container it runs."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field

from dockyard.containers import ContainerConfig, Termination

from dockyard_docker.logs import LogFollower


class Phase(enum.Enum):
    PULLING = "pulling"
    CREATING = "creating"
    RUNNING = "running"
    FAILED = "failed"
    """The launch failed; there is no container to stop."""
    ENDED = "ended"


@dataclass(eq=False)
class Tracked:
    config: ContainerConfig
    phase: Phase = Phase.PULLING
    docker_id: str | None = None
    stop_signal: str | None = None
    """The container's STOPSIGNAL; None until its config has been read."""
    secret_names: set[str] = field(default_factory=set)
    killed: bool = False
    oom: bool = False
    logs: LogFollower | None = None
    pulling: asyncio.Future[None] | None = None
    """The wait for the image while PULLING; destroy cancels it."""
    launched: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the launch is over (started or failed); exits are handled after it."""
    termination: asyncio.Future[Termination] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    finishing: asyncio.Task[None] | None = None
    removed: bool = False
    """Its Engine container is gone (``--docker_remove_delay``)."""
    forgotten: bool = False
    """The core recorded its end (``forget``): ``wait`` may answer None from now on."""

    @property
    def container_id(self) -> str:
        return self.config.container_id.value

    def end(self, termination: Termination) -> None:
        self.phase = Phase.ENDED
        self.launched.set()
        if not self.termination.done():
            self.termination.set_result(termination)
