"""A plugin host holding only the plugins a test names, without entry points."""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Mapping

from dockyard.discovery import CONTAINERIZERS, FETCHERS, UNKNOWN, LoadedPlugin, PluginInfo
from dockyard.host import PluginHost


class PluginRegistrationError(Exception):
    """A plugin given to :func:`make_host` was refused (bad hook name, missing hook...)."""


def make_host(
    containerizers: Mapping[str, object], fetchers: Mapping[str, object] | None = None
) -> PluginHost:
    """A :class:`~dockyard.host.PluginHost` with exactly these plugins, keyed by name.

    The names play the role of entry-point names (the values of ``--containerizers``).
    A plugin the host would report as broken raises instead, with the host's reason,
    so that a typo in a hook name fails the test that uses it.
    """
    host = PluginHost()
    for group, plugins in ((CONTAINERIZERS, containerizers), (FETCHERS, fetchers or {})):
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
