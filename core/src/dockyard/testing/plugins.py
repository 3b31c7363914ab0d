"""A plugin host holding only the plugins a test names, without entry points."""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path

from dockyard.containers import AgentContext
from dockyard.core_flags import core_flag_set
from dockyard.discovery import (
    CONTAINER_LOGGERS,
    CONTAINERIZERS,
    FETCHERS,
    UNKNOWN,
    LoadedPlugin,
    PluginInfo,
)
from dockyard.host import PluginHost
from dockyard.testing.factories import unique_id


class PluginRegistrationError(Exception):
    """A plugin given to :func:`make_host` was refused (bad hook name, missing hook...)."""


def make_host(
    containerizers: Mapping[str, object],
    fetchers: Mapping[str, object] | None = None,
    loggers: Mapping[str, object] | None = None,
) -> PluginHost:
    """A :class:`~dockyard.host.PluginHost` with exactly these plugins, keyed by name.

    The names play the role of entry-point names (the values of ``--containerizers``,
    and of ``--container_logger`` for ``loggers``).
    A plugin the host would report as broken raises instead, with the host's reason,
    so that a typo in a hook name fails the test that uses it.
    """
    host = PluginHost()
    groups = (
        (CONTAINERIZERS, containerizers),
        (FETCHERS, fetchers or {}),
        (CONTAINER_LOGGERS, loggers or {}),
    )
    for group, plugins in groups:
        for name, plugin in plugins.items():
            host.register(LoadedPlugin(plugin_info(name, group, plugin), plugin))
    if host.broken:
        raise PluginRegistrationError("; ".join(broken.describe() for broken in host.broken))
    return host


def plugin_info(name: str, group: str, plugin: object) -> PluginInfo:
    """What discovery would say of ``plugin``: the distribution that installed its module."""
    module = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
    package = module.partition(".")[0]
    distributions = importlib.metadata.packages_distributions().get(package, [])
    if not distributions:
        return PluginInfo(name, group, UNKNOWN, UNKNOWN, module)
    distribution = distributions[0]
    return PluginInfo(name, group, distribution, importlib.metadata.version(distribution), module)


def agent_context(
    host: PluginHost,
    name: str,
    work_dir: Path,
    *,
    flags: Sequence[str] = (),
    agent_id: str | None = None,
) -> AgentContext:
    """What the agent gives plugin ``name``'s ``start``: every registered plugin's flags
    parsed from ``flags`` (``--work_dir`` is ``work_dir``), its state directory, and an
    agent id (by default a fresh one, so that parallel tests name their cgroups apart)."""
    flag_set = core_flag_set()
    host.add_flags(flag_set)
    state_dir = work_dir / "meta" / "plugins" / name
    state_dir.mkdir(parents=True, exist_ok=True)
    return AgentContext(
        flags=flag_set.parse([f"--work_dir={work_dir}", *flags], {}),
        agent_id=agent_id or unique_id("agent"),
        work_dir=work_dir,
        state_dir=state_dir,
    )
