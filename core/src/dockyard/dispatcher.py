"""Hands each container to the first containerizer, in ``--containerizers`` order,
that accepts it, and routes later calls to the one that took it.

This is Mesos's composing containerizer with its order bug fixed: Mesos sorts the
list; here the operator's order is honoured. A refusal (``supports``) moves on to
the next containerizer; a launch *failure* does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from dockyard.background import Background
from dockyard.containers import (
    ContainerConfig,
    Launched,
    LaunchError,
    RecoveredContainer,
    Termination,
)
from dockyard.fetch_routing import FetchRouter
from dockyard.host import PluginHost
from dockyard.messages import CommandInfo, ContainerID, ResourceStatistics, TaskState

log = logging.getLogger(__name__)


class Stage(enum.Enum):
    """Points of a launch that the caller may want to checkpoint or report."""

    SELECTED = "selected"
    FETCHED = "fetched"
    PREPARED = "prepared"


StageObserver = Callable[[Stage, str], Awaitable[None]]


class AlreadyLaunchedError(Exception):
    """A container with this id is already known."""


class NotSupportedError(LaunchError):
    """No enabled containerizer accepts the container."""

    def __init__(self, refusals: Mapping[str, str]) -> None:
        names = ", ".join(refusals)
        why = "; ".join(f"{name}: {reason}" for name, reason in refusals.items())
        super().__init__(
            f"None of the enabled containerizers ({names}) could create a container "
            f"for the provided ContainerInfo ({why})"
        )
        self.refusals = dict(refusals)


class KillUnsupportedError(Exception):
    """The containerizer of a container has no ``kill`` hook."""


class _State(enum.Enum):
    LAUNCHING = "launching"
    LAUNCHED = "launched"
    DESTROYING = "destroying"


@dataclass(eq=False)
class _Entry:
    container_id: ContainerID
    state: _State = _State.LAUNCHING
    containerizer: str | None = None
    launching: asyncio.Task[Launched] | None = None
    watching: asyncio.Task[None] | None = None
    ended: asyncio.Future[Termination] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def container_key(container_id: ContainerID) -> str:
    """Mesos's string form: parents joined with ``.``."""
    if container_id.parent is None:  # most containers: asked for some twenty times a task
        return container_id.value
    parts = []
    current: ContainerID | None = container_id
    while current is not None:
        parts.append(current.value)
        current = current.parent
    return ".".join(reversed(parts))


DESTROYED_WHILE_LAUNCHING = "Container was destroyed while launching"


class Dispatcher:
    def __init__(self, host: PluginHost, background: Background) -> None:
        self.host = host
        self.background = background
        self.containerizers: list[str] = []
        self.fetchers: list[str] = []
        self.logger: str | None = None
        """The container logger that sets ``config.output``; None leaves it unset."""
        self._entries: dict[str, _Entry] = {}
        self._fetch_router: FetchRouter | None = None

    def enable(
        self, containerizers: Sequence[str], fetchers: Sequence[str], logger: str | None = None
    ) -> None:
        """The plugins to use, containerizers in the order they are tried."""
        self.containerizers = list(containerizers)
        self.fetchers = list(fetchers)
        self.logger = logger
        self._fetch_router = None

    def fetch_router(self) -> FetchRouter:
        """Built at the first fetch, once the fetchers have started and know their schemes."""
        if self._fetch_router is None:
            self._fetch_router = FetchRouter.from_host(self.host, self.fetchers)
        return self._fetch_router

    def containers(self) -> list[ContainerID]:
        return [entry.container_id for entry in self._entries.values()]

    def knows(self, key: str) -> bool:
        """Whether the container (by its :func:`container_key`) is launching or running."""
        return key in self._entries

    def containerizer_of(self, container_id: ContainerID) -> str | None:
        entry = self._entries.get(container_key(container_id))
        return entry.containerizer if entry else None

    def select(self, config: ContainerConfig) -> str:
        refusals: dict[str, str] = {}
        for name in self.containerizers:
            verdict = self.host.supports(name, config)
            if verdict.accepted:
                return name
            refusals[name] = verdict.reason or "not supported"
        raise NotSupportedError(refusals)

    async def launch(
        self, config: ContainerConfig, observe: StageObserver | None = None
    ) -> Launched:
        """Select, fetch, prepare and launch; raise LaunchError (or a subclass) on failure."""
        key = container_key(config.container_id)
        if key in self._entries:
            raise AlreadyLaunchedError(f"Container {key} already launched")
        entry = _Entry(config.container_id)
        self._entries[key] = entry
        # awaited right here, so owned by the caller (itself background work)
        entry.launching = asyncio.create_task(self._launch(entry, config, observe))
        try:
            launched = await entry.launching
        except asyncio.CancelledError:
            if entry.state is not _State.DESTROYING:
                raise
            raise LaunchError(DESTROYED_WHILE_LAUNCHING) from None
        except BaseException:
            await self._clean_up_failed_launch(entry)
            raise
        if entry.state is _State.DESTROYING:
            raise LaunchError(DESTROYED_WHILE_LAUNCHING)
        entry.state = _State.LAUNCHED
        entry.watching = self.background.spawn(self._watch(entry))
        return launched

    async def _launch(
        self, entry: _Entry, config: ContainerConfig, observe: StageObserver | None
    ) -> Launched:
        async def reached(stage: Stage, name: str) -> None:
            if observe is not None:
                await observe(stage, name)

        name = self.select(config)
        entry.containerizer = name
        await reached(Stage.SELECTED, name)
        if self.logger is not None:
            config.output = self.host.container_output(self.logger, config)
        if config.command.uris:
            await self.fetch_router().fetch(config, config.command.uris)
        await reached(Stage.FETCHED, name)
        await self.host.prepare(name, config)
        await reached(Stage.PREPARED, name)
        return await self.host.launch(name, config)

    async def _clean_up_failed_launch(self, entry: _Entry) -> None:
        """After a failed launch, let the plugin remove anything half-created (Mesos does too)."""
        self._entries.pop(container_key(entry.container_id), None)
        if entry.containerizer is not None:
            try:
                await self.host.destroy(entry.containerizer, entry.container_id, timedelta(0))
            except Exception:
                log.exception(
                    "cleaning up after a failed launch of %s", container_key(entry.container_id)
                )
        if not entry.ended.done():
            entry.ended.set_result(
                Termination(state=TaskState.TASK_FAILED, message="Launch failed")
            )

    async def _watch(self, entry: _Entry) -> None:
        assert entry.containerizer is not None
        try:
            termination = await self.host.wait(entry.containerizer, entry.container_id)
        except Exception as error:
            log.exception("waiting for %s", container_key(entry.container_id))
            termination = Termination(message=f"Failed to wait for the container: {error}")
        if termination is None:
            termination = Termination(message="Abnormal executor termination: unknown container")
        self._entries.pop(container_key(entry.container_id), None)
        if not entry.ended.done():
            entry.ended.set_result(termination)

    def ended(self, container_id: ContainerID) -> asyncio.Future[Termination] | None:
        """A future of the container's termination, taken now; None if unknown.

        Taking the future synchronously lets a caller follow a container that may
        end before the caller's next await.
        """
        entry = self._entries.get(container_key(container_id))
        return None if entry is None else entry.ended

    async def wait(self, container_id: ContainerID) -> Termination | None:
        """The container's termination; None for an unknown container."""
        ended = self.ended(container_id)
        return None if ended is None else await asyncio.shield(ended)

    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        """Stop a container, also one still launching; None for an unknown container."""
        entry = self._entries.get(container_key(container_id))
        if entry is None:
            return None
        if entry.state is _State.DESTROYING:
            return await asyncio.shield(entry.ended)
        was_launching = entry.state is _State.LAUNCHING
        entry.state = _State.DESTROYING
        if entry.launching is not None and not entry.launching.done():
            entry.launching.cancel()
            with contextlib.suppress(BaseException):
                await entry.launching
        termination: Termination | None = None
        if entry.containerizer is not None:
            termination = await self.host.destroy(entry.containerizer, container_id, grace_period)
        if was_launching:
            termination = termination or Termination(
                state=TaskState.TASK_KILLED, message=DESTROYED_WHILE_LAUNCHING
            )
            self._entries.pop(container_key(container_id), None)
            if not entry.ended.done():
                entry.ended.set_result(termination)
            return termination
        return await asyncio.shield(entry.ended)

    def forget(
        self,
        containerizer: str | None,
        container_id: ContainerID,
        after: Sequence[Awaitable[object]] = (),
    ) -> None:
        """Call ``containerizer``'s ``forget`` hook once ``after`` (the writes that record the
        container's end) are durable; a failed write or hook is logged, never raised."""
        if containerizer is None or not self.host.implements(containerizer, "forget"):
            return
        try:
            self.background.spawn(self._forget(containerizer, container_id, after))
        except RuntimeError:  # the agent is stopping: recovery will tell the plugin instead
            log.info(
                "not forgetting container %s: the agent is stopping", container_key(container_id)
            )

    async def _forget(
        self, containerizer: str, container_id: ContainerID, after: Sequence[Awaitable[object]]
    ) -> None:
        key = container_key(container_id)
        try:
            if after:
                await asyncio.gather(*after)
        except Exception as error:  # not durable: the plugin must keep it for recovery
            log.warning("not forgetting container %s: its end was not recorded: %s", key, error)
            return
        try:
            await self.host.forget(containerizer, container_id)
        except Exception:
            log.exception("containerizer %s failed to forget container %s", containerizer, key)

    async def usage(self, container_id: ContainerID) -> ResourceStatistics | None:
        containerizer = self.containerizer_of(container_id)
        if containerizer is None:
            return None
        return await self.host.usage(containerizer, container_id)

    async def exec_in_container(
        self, container_id: ContainerID, command: CommandInfo, time_limit: timedelta
    ) -> int | None:
        """Run a command in a container; None if unknown or its containerizer cannot."""
        containerizer = self.containerizer_of(container_id)
        if containerizer is None or not self.host.implements(containerizer, "exec_in_container"):
            return None
        return await self.host.exec_in_container(containerizer, container_id, command, time_limit)

    async def kill(self, container_id: ContainerID, signal: int) -> bool:
        """Signal a container; False if unknown. Raises KillUnsupportedError."""
        containerizer = self.containerizer_of(container_id)
        if containerizer is None:
            return False
        if not self.host.implements(containerizer, "kill"):
            raise KillUnsupportedError(f"Containerizer '{containerizer}' cannot signal containers")
        return await self.host.kill(containerizer, container_id, signal)

    async def recover(self, containers: Mapping[str, Sequence[RecoveredContainer]]) -> set[str]:
        """Offer every enabled containerizer the containers it launched (maybe none: it
        still learns that anything else of this agent is an orphan); return claimed keys."""
        names = list(self.containerizers)
        for recovered in containers.values():
            for container in recovered:
                self._recover_output(container.config)
        results = await asyncio.gather(
            *(self.host.recover(name, containers.get(name, [])) for name in names)
        )
        claimed: set[str] = set()
        for name, ids in zip(names, results, strict=True):
            offered = {container_key(c.config.container_id) for c in containers.get(name, [])}
            for container_id in ids:
                key = container_key(container_id)
                if key not in offered:
                    log.warning("containerizer %s claimed unknown container %s", name, key)
                    continue
                entry = _Entry(container_id, state=_State.LAUNCHED, containerizer=name)
                self._entries[key] = entry
                entry.watching = self.background.spawn(self._watch(entry))
                claimed.add(key)
        return claimed

    def _recover_output(self, config: ContainerConfig) -> None:
        """Ask the logger again (Mesos's ``ContainerLogger::recover``); a refusal now
        leaves the container's output where its containerizer puts it by default."""
        if self.logger is None:
            return
        try:
            config.output = self.host.container_output(self.logger, config)
        except Exception as error:
            log.warning(
                "container logger %s refused recovered container %s: %s",
                self.logger,
                container_key(config.container_id),
                error,
            )
