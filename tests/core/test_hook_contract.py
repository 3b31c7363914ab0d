"""The hook contract is checked when a plugin registers, not on the first task."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import dockyard_mesos.plugin
import pytest
from dockyard import hookimpl
from dockyard.containers import ContainerConfig, Support
from dockyard.discovery import CONTAINERIZERS, FETCHERS, LoadedPlugin, PluginInfo
from dockyard.host import PluginHost
from dockyard.messages import URI
from dockyard.testing import PluginRegistrationError, make_host

from ..broken_plugins.dockyard_misdeclared import Complete, MetricTypo, SyncLaunch
from ..conftest import BROKEN_PLUGINS, SAMPLE_PLUGINS


def broken_reason(plugin: object) -> str:
    host = PluginHost()
    host.register(LoadedPlugin(PluginInfo("p", CONTAINERIZERS, "x", "1"), plugin))
    assert host.names(CONTAINERIZERS) == [], "refused at registration"
    (broken,) = host.broken
    return broken.error


def test_a_well_declared_plugin_registers() -> None:
    host = PluginHost()
    host.register(LoadedPlugin(PluginInfo("p", CONTAINERIZERS, "x", "1"), Complete()))
    assert host.broken == []
    assert host.names(CONTAINERIZERS) == ["p"]


def test_a_plain_def_launch_is_refused_with_the_fix() -> None:
    assert broken_reason(SyncLaunch()) == (
        "hook 'launch' must be a coroutine, because the core awaits its result: "
        "declare it 'async def launch(...)'"
    )


class AsyncSupports(Complete):
    @hookimpl
    async def supports(self, config: ContainerConfig) -> Support:  # type: ignore[override]
        return Support.yes()


def test_an_async_def_of_a_plain_hook_is_refused() -> None:
    assert "hook 'supports' must be a plain function" in broken_reason(AsyncSupports())
    assert "not 'async def'" in broken_reason(AsyncSupports())


def test_a_misspelled_hook_suggests_the_right_name() -> None:
    assert broken_reason(MetricTypo()) == "unknown hook 'metric' (did you mean 'metrics'?)"


class FarOff(Complete):
    @hookimpl
    def teleport(self) -> None: ...


def test_an_unknown_hook_with_no_close_name_has_no_suggestion() -> None:
    assert broken_reason(FarOff()) == "unknown hook 'teleport'"


class AsyncFetcher:
    @hookimpl
    async def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None: ...


class DecliningFetcher:
    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> Awaitable[None] | None:
        return None


@pytest.mark.parametrize("fetcher", [AsyncFetcher(), DecliningFetcher()])
def test_a_hook_that_may_return_none_or_an_awaitable_takes_either_def(fetcher: object) -> None:
    """``fetch`` may return None: an ``async def`` always fetches, a ``def`` may decline."""
    host = PluginHost()
    host.register(LoadedPlugin(PluginInfo("f", FETCHERS, "x", "1"), fetcher))
    assert host.broken == []
    assert host.names(FETCHERS) == ["f"]


class WrongArgument(Complete):
    @hookimpl
    def supports(self, container: ContainerConfig) -> Support:
        return Support.yes()


def test_pluggys_own_argument_check_still_applies() -> None:
    reason = broken_reason(WrongArgument())
    assert "'container'" in reason
    assert "can not be found in the hookspec" in reason


def test_the_kit_names_the_plugins_module_when_no_distribution_installed_it() -> None:
    with pytest.raises(PluginRegistrationError) as raised:
        make_host({"sync": SyncLaunch()})
    message = str(raised.value)
    assert (
        "plugin 'sync' (dockyard.containerizers) from module "
        "tests.broken_plugins.dockyard_misdeclared (in no installed distribution)"
    ) in message
    assert "async def launch" in message
    assert "dockyard.testing" not in message


def test_the_kit_names_the_distribution_that_installed_the_plugin() -> None:
    # The module holds a containerizer class but no hooks of its own: broken, and from
    # dockyard-mesos, not from the kit.
    with pytest.raises(PluginRegistrationError, match=r"from distribution dockyard-mesos 0\."):
        make_host({"module": dockyard_mesos.plugin})


def dockyard_plugins(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKYARD_WORK_DIR": str(tmp_path / "work")},
    )


def test_dockyard_plugins_exits_1_when_a_plugin_is_broken_and_lists_the_rest(
    install_plugins: Callable[[Path], None], tmp_path: Path
) -> None:
    install_plugins(SAMPLE_PLUGINS)
    assert dockyard_plugins(tmp_path).returncode == 0, "nothing broken yet"
    install_plugins(BROKEN_PLUGINS)
    result = dockyard_plugins(tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("sample ") for line in lines), "the others are still listed"
    assert (
        "BROKEN: plugin 'sync_launch' (dockyard.containerizers) from distribution "
        "dockyard-misdeclared 0.1 failed to load: hook 'launch' must be a coroutine, because "
        "the core awaits its result: declare it 'async def launch(...)'"
    ) in lines
    assert (
        "BROKEN: plugin 'metric_typo' (dockyard.containerizers) from distribution "
        "dockyard-misdeclared 0.1 failed to load: unknown hook 'metric' (did you mean "
        "'metrics'?)"
    ) in lines
    assert any("BROKEN: plugin 'broken'" in line for line in lines), "an import error too"


class RaisesOnInspection(Complete):
    def __dir__(self) -> list[str]:
        raise RuntimeError("not started")


class PropertyRaisesBeforeStart(Complete):
    @property
    def state(self) -> object:
        raise RuntimeError("not started")


def test_a_plugin_that_raises_when_inspected_is_broken_not_fatal() -> None:
    """pluggy lists a plugin's attributes (``dir``) when it registers it."""
    assert broken_reason(RaisesOnInspection()) == "not started"


def test_a_property_that_raises_before_start_does_not_break_registration() -> None:
    """pluggy (1.7 on) finds hooks with ``inspect.getattr_static``: registering a plugin
    runs none of its properties."""
    host = PluginHost()
    host.register(
        LoadedPlugin(PluginInfo("p", CONTAINERIZERS, "x", "1"), PropertyRaisesBeforeStart())
    )
    assert host.broken == []
    assert host.names(CONTAINERIZERS) == ["p"]
