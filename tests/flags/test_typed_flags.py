"""Typed flag handles: ``define`` once, ``declare`` in ``add_flags``, ``get`` a typed value.

The ``assert_type`` calls are checked by mypy (which runs over tests/): they fail the
type check if a handle loses its value type.
"""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType
from typing import Any, assert_type

import dockyard_docker.settings
import dockyard_fetcher.settings
import dockyard_mesos.settings
import pytest
from dockyard.core_flags import EXECUTOR_SHUTDOWN_GRACE_PERIOD, IP, core_flag_set
from dockyard.discovery import CONTAINER_LOGGERS, CONTAINERIZERS, FETCHERS
from dockyard.flags import DURATION, INT, STRING, Flag, FlagError, Flags, FlagSet, define
from dockyard.host import PluginHost
from dockyard.loggers import logrotate_settings
from dockyard_mesos.isolation import Isolation

TIMEOUT = define("demo_timeout", DURATION, default="30secs", help="How long to wait.")
TARGET = define("demo_target", STRING, help="Where to go; unset unless given.")
RETRIES = define("demo_retries", INT, default=3, help="How often to try.")


def declared(*argv: str, environ: dict[str, str] | None = None) -> Flags:
    flags = FlagSet().owned_by("demo")
    flags.declare(TIMEOUT, TARGET, RETRIES)
    return flags.parse(list(argv), environ or {})


def test_handles_read_typed_values() -> None:
    flags = declared("--demo_timeout=2mins", "--demo_target=/tmp")
    assert_type(TIMEOUT, Flag[timedelta])
    assert_type(TARGET, Flag[str | None])
    assert assert_type(TIMEOUT.get(flags), timedelta) == timedelta(minutes=2)
    assert assert_type(TARGET.get(flags), str | None) == "/tmp"
    assert assert_type(RETRIES.get(flags), int) == 3


def test_defaults_text_and_unset() -> None:
    flags = declared()
    assert TIMEOUT.default == timedelta(seconds=30), "a text default is parsed when defined"
    assert TIMEOUT.get(flags) == timedelta(seconds=30)
    assert TARGET.get(flags) is None


def test_the_command_line_contract_is_unchanged() -> None:
    """Same syntax, environment variables and old-style reads as a flag made by add()."""
    flags = declared("--demo_retries", "5", environ={"MESOS_DEMO_TARGET": "/srv"})
    assert (RETRIES.get(flags), TARGET.get(flags)) == (5, "/srv")
    assert flags.demo_retries == 5, "attribute access still works"
    assert flags["demo_target"] == "/srv"
    with pytest.raises(FlagError, match=r"^--demo_timeout: invalid duration"):
        declared("--demo_timeout=soon")


def test_declare_records_the_owner_and_refuses_a_second_declaration() -> None:
    flags = FlagSet().owned_by("demo")
    flags.declare(TIMEOUT)
    (flag,) = list(flags)
    assert (flag.name, flag.owner) == ("demo_timeout", "demo")
    assert TIMEOUT.owner == "", "the module's handle is not changed"
    with pytest.raises(FlagError, match=r"^flag --demo_timeout is declared twice: by 'demo' "):
        flags.owned_by("other").declare(TIMEOUT)


def test_old_and_new_declarations_share_one_registry() -> None:
    flags = FlagSet().owned_by("demo")
    flags.declare(TIMEOUT)
    legacy = flags.add("demo_legacy", STRING, default="x", help="Declared the old way.")
    parsed = flags.parse(["--demo_legacy=y"], {})
    assert legacy.get(parsed) == "y", "add() returns a handle too (untyped)"
    assert parsed.demo_legacy == "y"


def test_bad_definitions_fail_where_they_are_made() -> None:
    with pytest.raises(FlagError, match=r"^bad default: --demo_x: invalid duration"):
        define("demo_x", DURATION, default="soon", help="x")
    with pytest.raises(FlagError, match=r"^bad default: --demo_x: 5 is not a duration$"):
        define("demo_x", DURATION, default=5, help="x")  # type: ignore[misc]  # mypy refuses it too
    with pytest.raises(FlagError, match=r"^define\(\): an invalid flag name 'Demo'$"):
        define("Demo", STRING, help="x")
    with pytest.raises(FlagError, match=r"^define\(\): an invalid flag name 'get'$"):
        define("get", STRING, help="x")


def test_reading_an_undeclared_flag() -> None:
    flags = declared()
    with pytest.raises(KeyError, match="no flag named 'ip'"):
        IP.get(flags)
    assert IP.get(flags, None) is None, "a registry without the core's flags"
    grace = EXECUTOR_SHUTDOWN_GRACE_PERIOD.get(flags, timedelta(seconds=9))
    assert grace == timedelta(seconds=9)
    core = core_flag_set()
    assert IP.get(core.parse([], {}), None) == "127.0.0.1", "declared: its value wins"


SETTINGS_MODULES: dict[str, ModuleType] = {
    "docker": dockyard_docker.settings,
    "mesos": dockyard_mesos.settings,
    "fetcher": dockyard_fetcher.settings,
    "logrotate": logrotate_settings,
}


def handles_of(module: ModuleType) -> set[str]:
    values: list[Any] = []
    for value in vars(module).values():
        values.extend(value.values() if isinstance(value, dict) else [value])
    return {value.name for value in values if isinstance(value, Flag)}


def test_every_built_in_plugin_declares_typed_handles() -> None:
    host = PluginHost.from_entry_points()
    builtin = {*host.names(CONTAINERIZERS), *host.names(FETCHERS), *host.names(CONTAINER_LOGGERS)}
    assert set(SETTINGS_MODULES) <= builtin
    flags = core_flag_set("agent")
    host.add_flags(flags)
    for owner, module in SETTINGS_MODULES.items():
        names = {flag.name for flag in flags if flag.owner == owner}
        assert names, f"{owner} declares flags"
        assert names <= handles_of(module), f"{owner}'s flags are handles in {module.__name__}"


def test_built_in_handles_have_their_types() -> None:
    flags = core_flag_set("agent")
    PluginHost.from_entry_points().add_flags(flags)
    parsed = flags.parse([], {})
    assert assert_type(dockyard_mesos.settings.ISOLATION.get(parsed), Isolation) is not None
    assert assert_type(dockyard_mesos.settings.LAUNCHER.get(parsed), str | None) is None
    stop = dockyard_docker.settings.STOP_TIMEOUT.get(parsed)
    assert assert_type(stop, timedelta) == timedelta(0)
    size = logrotate_settings.MAX_SIZE["stdout"].get(parsed)
    assert assert_type(size, int) == 10 * 1024 * 1024
