"""Containerizers that import fine but break the hook contract: registration refuses them."""

from __future__ import annotations

from datetime import timedelta

from dockyard import hookimpl
from dockyard.containers import ContainerConfig, Launched, Support, Termination
from dockyard.messages import ContainerID


class Complete:
    """Every required hook, correctly declared."""

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        return Support.yes()

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        return Launched()

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        return None

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        return None


class SyncLaunch(Complete):
    """``launch`` is awaited by the core, so a plain ``def`` cannot work."""

    @hookimpl
    def launch(self, config: ContainerConfig) -> Launched:  # type: ignore[override]
        return Launched()


class MetricTypo(Complete):
    """``metric`` is no hook; ``metrics`` is."""

    @hookimpl
    def metric(self) -> dict[str, float]:
        return {}
