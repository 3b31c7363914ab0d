"""A containerizer whose every move the test scripts: for the dispatcher's pure logic."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from dockyard import hookimpl
from dockyard.containers import (
    ContainerConfig,
    Launched,
    LaunchError,
    RecoveredContainer,
    Support,
    Termination,
)
from dockyard.dispatcher import container_key
from dockyard.host import PluginHost
from dockyard.messages import URI, ContainerID
from dockyard.testing import make_host


class ScriptedContainerizer:
    def __init__(
        self,
        *,
        accept: bool = True,
        refusal: str = "scripted refusal",
        launch_error: str | None = None,
        block_prepare: bool = False,
        recoverable: Sequence[str] = (),
        status_on_destroy: int = 15,
    ) -> None:
        self.accept = accept
        self.refusal = refusal
        self.launch_error = launch_error
        self.block_prepare = block_prepare
        self.recoverable = set(recoverable)
        self.status_on_destroy = status_on_destroy
        self.calls: list[tuple[str, str]] = []
        self.prepare_cancelled = False
        self.preparing = asyncio.Event()
        self.exits: dict[str, asyncio.Future[Termination]] = {}
        self.destroy_grace: list[timedelta | None] = []

    def _exit(self, key: str) -> asyncio.Future[Termination]:
        if key not in self.exits:
            self.exits[key] = asyncio.get_running_loop().create_future()
        return self.exits[key]

    def finish(self, key: str, status: int) -> None:
        """Make the container end with a raw wait status."""
        self._exit(key).set_result(Termination(status=status))

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        self.calls.append(("supports", container_key(config.container_id)))
        return Support.yes() if self.accept else Support.no(self.refusal)

    @hookimpl
    async def prepare(self, config: ContainerConfig) -> None:
        self.calls.append(("prepare", container_key(config.container_id)))
        self.preparing.set()
        if self.block_prepare:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.prepare_cancelled = True
                raise

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        key = container_key(config.container_id)
        self.calls.append(("launch", key))
        if self.launch_error:
            raise LaunchError(self.launch_error)
        self._exit(key)
        return Launched(handle={"scripted": key}, data=b"inspect")

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        key = container_key(container_id)
        if key not in self.exits:
            return None
        return await asyncio.shield(self.exits[key])

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        key = container_key(container_id)
        self.calls.append(("destroy", key))
        self.destroy_grace.append(grace_period)
        if key not in self.exits:
            return None
        if not self.exits[key].done():
            self.finish(key, self.status_on_destroy)
        return await self.exits[key]

    @hookimpl
    async def recover(self, containers: Sequence[RecoveredContainer]) -> Sequence[ContainerID]:
        claimed = []
        for container in containers:
            key = container_key(container.config.container_id)
            self.calls.append(("recover", key))
            if key in self.recoverable:
                self._exit(key)
                claimed.append(container.config.container_id)
        return claimed


class ScriptedFetcher:
    def __init__(self) -> None:
        self.fetched: list[str] = []

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> object:
        async def run() -> None:
            for uri in uris:
                (config.sandbox / uri.value.rsplit("/", 1)[-1]).write_text(uri.value)
                self.fetched.append(uri.value)

        return run()


def host_with(**plugins: object) -> PluginHost:
    """The kit's host with the given plugins registered under their keyword names."""
    fetchers = {name: p for name, p in plugins.items() if isinstance(p, ScriptedFetcher)}
    containerizers = {name: p for name, p in plugins.items() if name not in fetchers}
    return make_host(containerizers, fetchers)
