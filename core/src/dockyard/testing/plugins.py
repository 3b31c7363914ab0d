"""A plugin host holding only the plugins a test names, without entry points."""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.discovery import CONTAINER_LOGGERS, CONTAINERIZERS, FETCHERS, LoadedPlugin, PluginInfo
from dockyard.host import PluginHost


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
            host.register(LoadedPlugin(PluginInfo(name, group, "dockyard.testing", "0"), plugin))
    if host.broken:
        raise PluginRegistrationError("; ".join(broken.describe() for broken in host.broken))
    return host
