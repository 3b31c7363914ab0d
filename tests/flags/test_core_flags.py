"""The core's flags: Mesos names and defaults, and a first run that needs no flags."""

import json
import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from dockyard.core_flags import core_flag_set, default_work_dir
from dockyard.flags import STRING, FlagError
from dockyard.messages import ContainerInfo, ContainerType


def test_defaults_follow_mesos() -> None:
    flags = core_flag_set().parse([], {})
    assert flags.containerizers == ["mesos"]
    assert flags.ip == "127.0.0.1"
    assert flags.port == 5051
    assert flags.hostname == socket.gethostname()
    assert flags.default_container_info is None
    assert flags.executor_registration_timeout == timedelta(minutes=1)
    assert flags.executor_shutdown_grace_period == timedelta(seconds=5)
    assert flags.switch_user is True
    assert flags.http_credentials is None
    assert flags.authenticate_http_readwrite is False
    assert flags.authenticate_http_readonly is False
    assert flags.recover == "reconnect"
    assert flags.executor_environment_variables is None
    assert flags.work_dir == str(default_work_dir())


def test_every_core_flag_is_owned_by_core_and_documented() -> None:
    for flag in core_flag_set():
        assert flag.owner == "core"
        assert flag.help.endswith(".")


def test_root_work_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_work_dir() == Path("/var/lib/dockyard")


def test_user_work_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_work_dir() == tmp_path / "dockyard"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_work_dir() == tmp_path / ".local" / "share" / "dockyard"


def test_mesos_environment_configures_the_core() -> None:
    environ = {
        "MESOS_WORK_DIR": "/tmp/mesos",
        "MESOS_CONTAINERIZERS": "docker,mesos",
        "MESOS_EXECUTOR_REGISTRATION_TIMEOUT": "5mins",
        "DOCKYARD_SWITCH_USER": "false",
    }
    flags = core_flag_set().parse([], environ)
    assert flags.work_dir == "/tmp/mesos"
    assert flags.containerizers == ["docker", "mesos"]
    assert flags.executor_registration_timeout == timedelta(minutes=5)
    assert flags.switch_user is False


def test_default_container_info_from_file(tmp_path: Path) -> None:
    path = tmp_path / "info.json"
    path.write_text(
        json.dumps({"type": "DOCKER", "docker": {"image": "alpine", "network": "BRIDGE"}})
    )
    flags = core_flag_set().parse([f"--default_container_info=file://{path}"], {})
    info = flags.default_container_info
    assert isinstance(info, ContainerInfo)
    assert info.type is ContainerType.DOCKER
    assert json.loads(flags.as_dict()["default_container_info"])["docker"]["network"] == "BRIDGE"


def test_executor_environment_variables_must_be_strings() -> None:
    flag_set = core_flag_set()
    flags = flag_set.parse(['--executor_environment_variables={"PATH": "/bin"}'], {})
    assert flags.executor_environment_variables == {"PATH": "/bin"}
    with pytest.raises(
        FlagError, match=r"^--executor_environment_variables: values must be strings"
    ):
        flag_set.parse(['--executor_environment_variables={"N": 1}'], {})


def test_recover_accepts_only_mesos_modes() -> None:
    assert core_flag_set().parse(["--recover=cleanup"], {}).recover == "cleanup"
    with pytest.raises(FlagError, match=r"expected reconnect or cleanup"):
        core_flag_set().parse(["--recover=restart"], {})


def test_credentials_never_show_in_get_flags() -> None:
    flags = core_flag_set().parse([], {"DOCKYARD_HTTP_CREDENTIALS": '{"credentials": []}'})
    assert flags.http_credentials == {"credentials": []}
    assert flags.as_dict()["http_credentials"] == "(hidden)"


def test_as_dict_is_all_strings() -> None:
    rendered = core_flag_set().parse([], {}).as_dict()
    assert rendered["executor_registration_timeout"] == "1mins"
    assert rendered["executor_shutdown_grace_period"] == "5secs"
    assert rendered["switch_user"] == "true"
    assert rendered["containerizers"] == "mesos"
    assert all(isinstance(value, str) for value in rendered.values())


def test_each_call_gives_a_fresh_registry() -> None:
    first = core_flag_set()
    first.owned_by("docker").add("docker_socket", STRING, default="/s", help="Socket.")
    assert "docker_socket" not in core_flag_set()


def test_help_lists_the_core_flags() -> None:
    text = core_flag_set().help()
    assert text.startswith("core flags:\n")
    assert "--containerizers=A,B,...\n" in text
    assert "(default: 1mins)" in text
