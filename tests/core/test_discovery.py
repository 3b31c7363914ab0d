"""Plugins are found through entry points; a broken one is reported, not fatal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dockyard import hookimpl
from dockyard.discovery import CONTAINERIZERS, LoadedPlugin, PluginInfo, discover
from dockyard.host import PluginHost

from ..conftest import BROKEN_PLUGINS, SAMPLE_PLUGINS


def test_entry_point_plugins_are_discovered(install_plugins: Callable[[Path], None]) -> None:
    install_plugins(SAMPLE_PLUGINS)
    loaded, _ = discover()
    sample = next(p for p in loaded if p.info.name == "sample")
    assert sample.info == PluginInfo("sample", CONTAINERIZERS, "dockyard-sample", "0.1")
    assert type(sample.plugin).__name__ == "SampleContainerizer", "a class is instantiated"


def test_a_plugin_that_fails_to_import_is_reported_with_its_distribution(
    install_plugins: Callable[[Path], None],
) -> None:
    install_plugins(SAMPLE_PLUGINS)
    install_plugins(BROKEN_PLUGINS)
    host = PluginHost.from_entry_points()
    assert "sample" in host.names(CONTAINERIZERS), "the others still load"
    (broken,) = [b for b in host.broken if b.info.name == "broken"]
    assert broken.info.distribution == "dockyard-broken"
    assert "ModuleNotFoundError" in broken.describe()
    assert "dockyard-broken" in broken.describe()


class Typo:
    @hookimpl
    def supports(self, config: object) -> None: ...

    @hookimpl
    def lunch(self, config: object) -> None: ...


class Incomplete:
    @hookimpl
    def supports(self, config: object) -> None: ...


def test_a_misnamed_hook_makes_the_plugin_broken() -> None:
    host = PluginHost()
    host.register(LoadedPlugin(PluginInfo("typo", CONTAINERIZERS, "x", "1"), Typo()))
    assert host.names(CONTAINERIZERS) == []
    assert "lunch" in host.broken[0].error


def test_a_containerizer_without_required_hooks_is_broken() -> None:
    host = PluginHost()
    host.register(LoadedPlugin(PluginInfo("half", CONTAINERIZERS, "x", "1"), Incomplete()))
    assert host.names(CONTAINERIZERS) == []
    assert host.broken[0].error == "does not implement required hook(s): launch, wait, destroy"


def test_two_plugins_cannot_share_a_name(install_plugins: Callable[[Path], None]) -> None:
    install_plugins(SAMPLE_PLUGINS)
    host = PluginHost.from_entry_points()
    host.register(LoadedPlugin(PluginInfo("sample", CONTAINERIZERS, "other", "1"), Incomplete()))
    assert host.infos["sample"].distribution == "dockyard-sample"
    assert any(b.info.distribution == "other" for b in host.broken)
