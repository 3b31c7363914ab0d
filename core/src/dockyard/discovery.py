"""Find installed plugins through their entry points (stevedore).

A plugin that fails to import is reported with its distribution and the error,
and does not stop the others from loading.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from stevedore import ExtensionManager

CONTAINERIZERS = "dockyard.containerizers"
FETCHERS = "dockyard.fetchers"
CONTAINER_LOGGERS = "dockyard.container_loggers"
GROUPS = (CONTAINERIZERS, FETCHERS, CONTAINER_LOGGERS)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin comes from, as ``dockyard plugins`` shows it."""

    name: str
    group: str
    distribution: str
    version: str
    module: str = field(default="", compare=False)
    """The module that defines the plugin, for a plugin no distribution installed."""

    def origin(self) -> str:
        """Where the plugin comes from, for messages: its distribution, else its module."""
        if self.distribution != UNKNOWN or not self.module:
            return f"distribution {self.distribution} {self.version}"
        return f"module {self.module} (in no installed distribution)"


@dataclass(frozen=True)
class LoadedPlugin:
    info: PluginInfo
    plugin: object
    """The registered object: a module, or an instance of the entry point's class."""


@dataclass(frozen=True)
class BrokenPlugin:
    info: PluginInfo
    error: str

    def describe(self) -> str:
        return (
            f"plugin '{self.info.name}' ({self.info.group}) from {self.info.origin()} "
            f"failed to load: {self.error}"
        )


def info_from_entry_point(entry_point: EntryPoint, group: str) -> PluginInfo:
    # stevedore's cached entry points lack ``dist``: look it up in importlib.metadata.
    dist = entry_point.dist or next(
        (
            candidate.dist
            for candidate in entry_points(group=group, name=entry_point.name)
            if candidate.value == entry_point.value
        ),
        None,
    )
    return PluginInfo(
        name=entry_point.name,
        group=group,
        distribution=dist.name if dist else UNKNOWN,
        version=dist.version if dist else UNKNOWN,
        module=entry_point.module,
    )


def instantiate(target: Any) -> object:
    """An entry point may name a class (instantiated once per agent) or a module."""
    return target() if isinstance(target, type) else target


def discover(groups: tuple[str, ...] = GROUPS) -> tuple[list[LoadedPlugin], list[BrokenPlugin]]:
    """Load every plugin of ``groups``; return the loaded ones and the broken ones."""
    loaded: list[LoadedPlugin] = []
    broken: list[BrokenPlugin] = []
    for group in groups:

        def on_failure(_manager: Any, entry_point: EntryPoint, error: BaseException) -> None:
            info = info_from_entry_point(entry_point, group)  # noqa: B023 - called synchronously
            summary = "".join(traceback.format_exception_only(error)).strip()
            broken.append(BrokenPlugin(info, summary))

        manager = ExtensionManager(
            namespace=group, invoke_on_load=False, on_load_failure_callback=on_failure
        )
        for extension in manager.extensions:
            info = info_from_entry_point(extension.entry_point, group)
            try:
                plugin = instantiate(extension.plugin)
            except Exception as error:
                summary = "".join(traceback.format_exception_only(error)).strip()
                broken.append(BrokenPlugin(info, summary))
                continue
            loaded.append(LoadedPlugin(info, plugin))
    return loaded, broken
