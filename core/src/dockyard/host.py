"""The plugin manager, with one typed method per hook (tox's facade pattern).

Every hook is called on a single named plugin; which fetcher fetches which URI is
decided in :mod:`dockyard.fetch_routing`. Nothing outside this module calls ``pm.hook`` directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pluggy

from dockyard import PROJECT_NAME, hookspecs
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    ContainerOutput,
    Launched,
    RecoveredContainer,
    Support,
    Termination,
)
from dockyard.discovery import (
    CONTAINER_LOGGERS,
    CONTAINERIZERS,
    BrokenPlugin,
    LoadedPlugin,
    PluginInfo,
    discover,
)
from dockyard.flags import FlagSet
from dockyard.hook_contract import ContractPluginManager, unknown_hooks
from dockyard.messages import URI, CommandInfo, ContainerID, ResourceStatistics

REQUIRED_HOOKS = {
    CONTAINERIZERS: ("supports", "launch", "wait", "destroy"),
    CONTAINER_LOGGERS: ("container_output",),
}


class PluginError(Exception):
    """A plugin is missing, broken, or misbehaved."""


class PluginHost:
    """Holds the registered plugins and calls their hooks.

    Each hook method calls the hook of the one plugin named (its entry-point name) and
    types the result; a hook the plugin does not implement gives the documented default,
    and a name no plugin was registered under is a :class:`PluginError`.
    """

    def __init__(self) -> None:
        self.pm: pluggy.PluginManager = ContractPluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.broken: list[BrokenPlugin] = []
        self._callers: dict[tuple[str, str], pluggy.HookCaller] = {}

    @classmethod
    def from_entry_points(cls) -> PluginHost:
        loaded, broken = discover()
        host = cls()
        host.broken.extend(broken)
        for plugin in loaded:
            host.register(plugin)
        return host

    # -- registration -----------------------------------------------------

    def register(self, loaded: LoadedPlugin) -> None:
        """Register one plugin; a malformed one is recorded as broken instead."""
        info = loaded.info
        if info.name in self.infos:
            self.broken.append(BrokenPlugin(info, "another plugin already uses this name"))
            return
        try:
            self.pm.register(loaded.plugin, name=info.name)
            self.pm.check_pending()
            missing = self._missing_hooks(info)
            if missing:
                raise PluginError(f"does not implement required hook(s): {', '.join(missing)}")
        except Exception as error:  # a plugin that cannot even be inspected is broken too
            reason = unknown_hooks(self.pm, loaded.plugin) or str(error)
            if self.pm.is_registered(loaded.plugin):
                self.pm.unregister(loaded.plugin)
            self.broken.append(BrokenPlugin(info, reason))
            return
        self.infos[info.name] = info
        self._callers.clear()

    def _missing_hooks(self, info: PluginInfo) -> list[str]:
        required = REQUIRED_HOOKS.get(info.group, ())
        return [hook for hook in required if not self.implements(info.name, hook)]

    def names(self, group: str) -> list[str]:
        """Names of the registered plugins of an entry-point group, sorted."""
        return sorted(name for name, info in self.infos.items() if info.group == group)

    def implements(self, name: str, hook: str) -> bool:
        """Whether plugin ``name`` implements ``hook``."""
        return any(impl.plugin_name == name for impl in self._hook(hook).get_hookimpls())

    def hooks_of(self, name: str) -> list[str]:
        """Names of the hooks a plugin implements, for ``dockyard plugins``."""
        return sorted(
            caller.name for caller in self.pm.get_hookcallers(self.pm.get_plugin(name)) or []
        )

    # -- calling one plugin -----------------------------------------------

    def _hook(self, hook: str) -> pluggy.HookCaller:
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        return caller

    def _caller(self, name: str, hook: str) -> pluggy.HookCaller:
        key = (name, hook)
        if key not in self._callers:
            others = [plugin for n, plugin in self.pm.list_name_plugin() if n != name]
            self._callers[key] = self.pm.subset_hook_caller(hook, remove_plugins=others)
        return self._callers[key]

    def _call_one(self, name: str, hook: str, default: Any, **kwargs: Any) -> Any:
        """Call one plugin's hook; pluggy results are untyped, the facade types them."""
        if name not in self.infos:
            raise PluginError(f"no plugin named '{name}' is registered")
        caller = self._caller(name, hook)
        results = caller(**kwargs)
        if caller.spec is not None and caller.spec.opts.get("firstresult"):
            return default if results is None else results
        return results[0] if results else default

    async def _await_one(self, name: str, hook: str, default: Any, **kwargs: Any) -> Any:
        result = self._call_one(name, hook, None, **kwargs)
        return default if result is None else await result

    # -- hooks --------------------------------------------------------------

    def add_flags(self, flags: FlagSet) -> None:
        """Let every registered plugin declare its flags, recording it as the owner."""
        for name in sorted(self.infos):
            self._call_one(name, "add_flags", None, flags=flags.owned_by(name))

    async def start(self, name: str, context: AgentContext) -> None:
        """Call ``name``'s ``start`` (plugins without one need none)."""
        await self._await_one(name, "start", None, context=context)

    async def stop(self, name: str) -> None:
        """Call ``name``'s ``stop``, if it has one."""
        await self._await_one(name, "stop", None)

    def supports(self, name: str, config: ContainerConfig) -> Support:
        """``name``'s answer for ``config``; no ``supports`` hook is a refusal."""
        result: Support = self._call_one(
            name, "supports", Support.no("no supports hook"), config=config
        )
        return result

    def fetch_schemes(self, name: str) -> Collection[str]:
        """The schemes a fetcher takes; ``"*"`` (all) for one without the hook."""
        if not self.implements(name, "fetch_schemes"):
            return ("*",)
        schemes: Collection[str] = self._call_one(name, "fetch_schemes", ())
        return schemes

    def fetch(
        self, name: str, config: ContainerConfig, uris: Sequence[URI]
    ) -> Awaitable[None] | None:
        """One fetcher's job for ``uris``, or None if it declines them."""
        job: Awaitable[None] | None = self._call_one(name, "fetch", None, config=config, uris=uris)
        return job

    async def prepare(self, name: str, config: ContainerConfig) -> None:
        """Await ``name``'s ``prepare``, if it has one."""
        await self._await_one(name, "prepare", None, config=config)

    async def launch(self, name: str, config: ContainerConfig) -> Launched:
        """Await ``name``'s ``launch``; anything but a Launched is a PluginError."""
        launched = await self._await_one(name, "launch", None, config=config)
        if not isinstance(launched, Launched):
            raise PluginError(f"containerizer '{name}' returned {launched!r} from launch")
        return launched

    async def wait(self, name: str, container_id: ContainerID) -> Termination | None:
        """``name``'s termination of the container, or None if it does not know it."""
        result: Termination | None = await self._await_one(
            name, "wait", None, container_id=container_id
        )
        return result

    async def destroy(
        self, name: str, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        """Stop the container through ``name``; None if the plugin does not know it."""
        result: Termination | None = await self._await_one(
            name, "destroy", None, container_id=container_id, grace_period=grace_period
        )
        return result

    async def kill(self, name: str, container_id: ContainerID, signal: int) -> bool:
        """Signal the container through ``name``; False if unknown, gone or no hook."""
        result: bool = await self._await_one(
            name, "kill", False, container_id=container_id, signal=signal
        )
        return result

    async def usage(self, name: str, container_id: ContainerID) -> ResourceStatistics | None:
        """The container's usage from ``name``; None if unknown or no hook."""
        result: ResourceStatistics | None = await self._await_one(
            name, "usage", None, container_id=container_id
        )
        return result

    async def exec_in_container(
        self, name: str, container_id: ContainerID, command: CommandInfo, time_limit: timedelta
    ) -> int | None:
        """Run a command in the container (health checks); its wait status or None."""
        result: int | None = await self._await_one(
            name,
            "exec_in_container",
            None,
            container_id=container_id,
            command=command,
            time_limit=time_limit,
        )
        return result

    async def forget(self, name: str, container_id: ContainerID) -> None:
        """Tell ``name`` that the container's end is durably recorded; no hook is nothing."""
        await self._await_one(name, "forget", None, container_id=container_id)

    def watch_progress(self, name: str, report: Callable[[str], None]) -> None:
        """Give ``name`` the callback that reports its progress."""
        self._call_one(name, "watch_progress", None, report=report)

    def metrics(self, name: str) -> Mapping[str, float]:
        """``name``'s metrics; no ``metrics`` hook is no metrics."""
        result: Mapping[str, float] = self._call_one(name, "metrics", {})
        return result

    def container_output(self, name: str, config: ContainerConfig) -> ContainerOutput:
        """Where logger ``name`` sends ``config``'s output; else a PluginError."""
        output = self._call_one(name, "container_output", None, config=config)
        if not isinstance(output, ContainerOutput):
            raise PluginError(f"container logger '{name}' returned {output!r}")
        return output

    async def recover(
        self, name: str, containers: Sequence[RecoveredContainer]
    ) -> Sequence[ContainerID]:
        """The ids of ``containers`` that ``name`` reattached to; no hook is none."""
        result: Sequence[ContainerID] = await self._await_one(
            name, "recover", [], containers=containers
        )
        return result
