"""The flag registry and Mesos-style parsing: syntax, environment, JSON files, help."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dockyard.flags import (
    BOOL,
    BYTES,
    DURATION,
    FLOAT,
    INT,
    JSON,
    STRING,
    STRING_LIST,
    STRING_MAP,
    FlagError,
    FlagKind,
    Flags,
    FlagSet,
    choice,
    message,
)
from dockyard.messages import ContainerInfo, ContainerType


@pytest.fixture
def flagset() -> FlagSet:
    """Core flags of every kind plus flags owned by a 'docker' plugin view."""
    flags = FlagSet("core")
    flags.add("work_dir", STRING, default="/var/lib/dockyard", help="Work directory.")
    flags.add("port", INT, default=5051, help="Port.")
    flags.add("ratio", FLOAT, default=0.5, help="A ratio.")
    flags.add("switch_user", BOOL, default=True, help="Switch user.")
    flags.add("containerizers", STRING_LIST, default=["mesos"], help="Containerizers.")
    flags.add("config", JSON, help="Some JSON.")
    flags.add("environment", STRING_MAP, help="Environment.")
    flags.add("default_container_info", message(ContainerInfo), help="Default ContainerInfo.")
    flags.add("recover", choice("reconnect", "cleanup"), default="reconnect", help="Recovery.")
    plugin = flags.owned_by("docker")
    plugin.add("docker_remove_delay", DURATION, default="6hrs", help="Remove delay.")
    plugin.add("docker_kill_orphans", BOOL, default=True, help="Kill orphans.")
    plugin.add("fetcher_cache_size", BYTES, default="2GB", help="Cache size.")
    return flags


def parse(flagset: FlagSet, *argv: str, **environ: str) -> Flags:
    return flagset.parse(argv, environ)


def test_defaults_when_nothing_is_given(flagset: FlagSet) -> None:
    flags = parse(flagset)
    assert flags.work_dir == "/var/lib/dockyard"
    assert flags.port == 5051
    assert flags.switch_user is True
    assert flags.containerizers == ["mesos"]
    assert flags.config is None
    assert flags.docker_remove_delay == timedelta(hours=6)
    assert flags.fetcher_cache_size == 2 * 1024**3
    assert flags.positional == ()


@pytest.mark.parametrize(
    "argv",
    [["--work_dir=/tmp/w", "--port=6000"], ["--work_dir", "/tmp/w", "--port", "6000"]],
)
def test_equals_and_space_forms(flagset: FlagSet, argv: list[str]) -> None:
    flags = flagset.parse(argv, {})
    assert (flags.work_dir, flags.port) == ("/tmp/w", 6000)


def test_value_may_contain_equals_and_be_empty(flagset: FlagSet) -> None:
    flags = parse(flagset, "--work_dir=a=b", "--config=[1]")
    assert (flags.work_dir, flags.config) == ("a=b", [1])
    flags = parse(flagset, "--work_dir=")
    assert flags.work_dir == ""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--switch_user"], True),
        (["--no-switch_user"], False),
        (["--switch_user=false"], False),
        (["--switch_user=true"], True),
    ],
)
def test_boolean_forms(argv: list[str], expected: bool) -> None:
    flags = FlagSet()
    flags.add("switch_user", BOOL, default=not expected, help="Switch user.")
    assert flags.parse(argv, {}).switch_user is expected


@pytest.mark.parametrize("text", ["1", "0", "yes", "True", "FALSE", ""])
def test_booleans_accept_only_true_and_false(flagset: FlagSet, text: str) -> None:
    with pytest.raises(
        FlagError, match=rf"^--switch_user: invalid boolean '{text}' \(expected true or false\)$"
    ):
        parse(flagset, f"--switch_user={text}")


def test_boolean_does_not_take_the_next_argument(flagset: FlagSet) -> None:
    flags = parse(flagset, "--switch_user", "false")
    assert flags.switch_user is True
    assert flags.positional == ("false",)


def test_negated_form_takes_no_value(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--no-switch_user takes no value$"):
        parse(flagset, "--no-switch_user=true")


def test_negated_form_only_for_booleans(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--no-port: --port is not a boolean flag$"):
        parse(flagset, "--no-port")


@pytest.mark.parametrize("argv", [["--port"], ["--port", "--work_dir=/x"], ["--port", "--"]])
def test_missing_value(flagset: FlagSet, argv: list[str]) -> None:
    with pytest.raises(FlagError, match=r"^--port: missing value \(use --port=VALUE\)$"):
        flagset.parse(argv, {})


def test_positional_arguments_keep_their_order(flagset: FlagSet) -> None:
    flags = parse(flagset, "a.json", "--port=1", "-", "b")
    assert flags.positional == ("a.json", "-", "b")
    assert flags.port == 1


def test_double_dash_ends_flags(flagset: FlagSet) -> None:
    flags = parse(flagset, "--port=1", "--", "--port=2", "-", "--no-such")
    assert flags.port == 1
    assert flags.positional == ("--port=2", "-", "--no-such")


def test_flag_given_twice_is_an_error(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--port is given more than once$"):
        parse(flagset, "--port=1", "--port", "2")


def test_boolean_and_its_negation_count_as_given_twice(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--switch_user is given more than once$"):
        parse(flagset, "--switch_user", "--no-switch_user")


@pytest.mark.parametrize(
    ("option", "suggestion"),
    [
        ("--work-dir", "--work_dir"),
        ("--docker_remove_dely", "--docker_remove_delay"),
        ("--no-swich_user", "--no-switch_user or --switch_user"),
    ],
)
def test_unknown_flag_suggests_close_matches(
    flagset: FlagSet, option: str, suggestion: str
) -> None:
    with pytest.raises(FlagError, match=rf"^unknown flag '{option}'; did you mean {suggestion}\?$"):
        parse(flagset, f"{option}=x")


def test_unknown_flag_without_close_match(flagset: FlagSet) -> None:
    with pytest.raises(
        FlagError, match=r"^unknown flag '--foo' \(the --help output lists every flag\)$"
    ):
        parse(flagset, "--foo")


def test_single_dash_options_are_unknown(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^unknown flag '-p'"):
        parse(flagset, "-p", "1")


def test_bad_value_names_the_flag_and_the_format(flagset: FlagSet) -> None:
    with pytest.raises(
        FlagError,
        match=r"^--docker_remove_delay: invalid duration 'x' "
        r"\(expected e\.g\. 5secs, 100ms, 1mins\)$",
    ):
        parse(flagset, "--docker_remove_delay=x")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--port=five"], "--port: invalid integer 'five'"),
        (["--port=1_000"], "--port: invalid integer '1_000'"),
        (["--ratio=nan"], "--ratio: invalid number 'nan'"),
        (["--fetcher_cache_size=2"], "--fetcher_cache_size: invalid byte size '2'"),
        (["--recover=wipe"], "--recover: invalid value 'wipe' (expected reconnect or cleanup)"),
    ],
)
def test_invalid_values(flagset: FlagSet, argv: list[str], error: str) -> None:
    with pytest.raises(FlagError) as raised:
        flagset.parse(argv, {})
    assert str(raised.value).startswith(error)


def test_typed_values(flagset: FlagSet) -> None:
    flags = parse(
        flagset, "--ratio=-1.5e2", "--port=-3", "--fetcher_cache_size=512MB", "--recover=cleanup"
    )
    assert flags.ratio == -150.0
    assert flags.port == -3
    assert flags.fetcher_cache_size == 512 * 1024**2
    assert flags.recover == "cleanup"


def test_string_list_strips_whitespace(flagset: FlagSet) -> None:
    assert parse(flagset, "--containerizers= docker , mesos").containerizers == ["docker", "mesos"]


@pytest.mark.parametrize("text", ["", "docker,", "docker,,mesos", " , "])
def test_string_list_rejects_empty_entries(flagset: FlagSet, text: str) -> None:
    with pytest.raises(FlagError, match=r"^--containerizers: empty entry in comma-separated list"):
        parse(flagset, f"--containerizers={text}")


# --- environment ----------------------------------------------------------------


def test_every_flag_can_come_from_either_prefix(flagset: FlagSet) -> None:
    flags = parse(
        flagset, DOCKYARD_PORT="6000", MESOS_DOCKER_REMOVE_DELAY="1mins", MESOS_SWITCH_USER="false"
    )
    assert flags.port == 6000
    assert flags.docker_remove_delay == timedelta(minutes=1)
    assert flags.switch_user is False


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["--port=1"], {"DOCKYARD_PORT": "2", "MESOS_PORT": "3"}, 1),
        ([], {"DOCKYARD_PORT": "2", "MESOS_PORT": "3"}, 2),
        ([], {"MESOS_PORT": "3"}, 3),
        ([], {}, 5051),
    ],
)
def test_precedence(
    flagset: FlagSet, argv: list[str], environ: dict[str, str], expected: int
) -> None:
    assert flagset.parse(argv, environ).port == expected


def test_unknown_and_lowercase_variables_are_ignored(flagset: FlagSet) -> None:
    flags = parse(flagset, MESOS_SANDBOX="/mnt/mesos/sandbox", DOCKYARD_NOPE="x", dockyard_port="1")
    assert flags.port == 5051


def test_bad_environment_value_names_the_variable(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--port: invalid integer 'x' \(from \$MESOS_PORT\)$"):
        parse(flagset, MESOS_PORT="x")


def test_overridden_environment_values_are_not_read(flagset: FlagSet) -> None:
    assert parse(flagset, "--port=1", DOCKYARD_PORT="x", MESOS_PORT="y").port == 1
    assert parse(flagset, DOCKYARD_PORT="2", MESOS_PORT="y").port == 2


# --- JSON ------------------------------------------------------------------------


def test_inline_json(flagset: FlagSet) -> None:
    assert parse(flagset, '--config={"auths": {"a": 1}}').config == {"auths": {"a": 1}}


def test_invalid_inline_json(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--config: invalid JSON \(Expecting"):
        parse(flagset, "--config={nope")


def test_json_from_file(flagset: FlagSet, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"auths": {}}')
    assert parse(flagset, f"--config=file://{path}").config == {"auths": {}}


def test_json_file_from_environment(flagset: FlagSet, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    assert parse(flagset, DOCKYARD_CONFIG=f"file://{path}").config == [1, 2]


def test_missing_json_file(flagset: FlagSet, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(
        FlagError, match=rf"^--config: cannot read file '{missing}': No such file or directory$"
    ):
        parse(flagset, f"--config=file://{missing}")


def test_unreadable_json_file(flagset: FlagSet, tmp_path: Path) -> None:
    with pytest.raises(
        FlagError, match=rf"^--config: cannot read file '{tmp_path}': Is a directory$"
    ):
        parse(flagset, f"--config=file://{tmp_path}")


def test_json_file_with_invalid_json(flagset: FlagSet, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(FlagError, match=rf"^--config: invalid JSON in file '{path}' \("):
        parse(flagset, f"--config=file://{path}")


def test_file_uri_must_be_absolute(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--config: 'file://x\.json' is not an absolute file URI"):
        parse(flagset, "--config=file://x.json")


def test_string_map_needs_string_values(flagset: FlagSet) -> None:
    assert parse(flagset, '--environment={"A": "1"}').environment == {"A": "1"}
    with pytest.raises(
        FlagError, match=r"^--environment: values must be strings, but not for: B, C$"
    ):
        parse(flagset, '--environment={"A": "1", "C": null, "B": 2}')
    with pytest.raises(FlagError, match=r"^--environment: expected a JSON object$"):
        parse(flagset, '--environment=["A"]')


def test_message_flag_loads_the_message(flagset: FlagSet, tmp_path: Path) -> None:
    path = tmp_path / "container.json"
    path.write_text(json.dumps({"type": "DOCKER", "docker": {"image": "alpine"}}))
    info = parse(flagset, f"--default_container_info=file://{path}").default_container_info
    assert isinstance(info, ContainerInfo)
    assert info.type is ContainerType.DOCKER
    assert info.docker is not None
    assert info.docker.image == "alpine"


def test_invalid_message_error_has_the_json_path(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--default_container_info\.docker\.image: "):
        parse(flagset, '--default_container_info={"type": "DOCKER", "docker": {}}')


def test_message_flag_rejects_invalid_json(flagset: FlagSet) -> None:
    with pytest.raises(FlagError, match=r"^--default_container_info: invalid JSON"):
        parse(flagset, "--default_container_info={")


# --- declaring flags --------------------------------------------------------------


def test_duplicate_declaration_names_both_owners(flagset: FlagSet) -> None:
    with pytest.raises(
        FlagError, match=r"^flag --port is declared twice: by 'core' and by 'mesos'$"
    ):
        flagset.owned_by("mesos").add("port", INT, default=1, help="Port again.")


def test_plugin_view_records_its_owner_and_shares_the_registry(flagset: FlagSet) -> None:
    owners = {flag.name: flag.owner for flag in flagset}
    assert owners["docker_remove_delay"] == "docker"
    assert owners["work_dir"] == "core"
    view = flagset.owned_by("fetcher")
    view.add("frameworks_home", STRING, default="", help="Prefix.")
    assert "frameworks_home" in flagset
    assert parse(flagset, "--frameworks_home=/opt").frameworks_home == "/opt"


@pytest.mark.parametrize(
    "name", ["Port", "1port", "my-flag", "", "items", "positional", "as_dict", "get"]
)
def test_invalid_or_reserved_names(name: str) -> None:
    with pytest.raises(FlagError, match=rf"^'core' declares an invalid flag name '{name}'$"):
        FlagSet().add(name, STRING, help="x")


@pytest.mark.parametrize(
    ("kind", "default"),
    [
        (INT, True),
        (INT, 1.5),
        (DURATION, 5),
        (BYTES, "2 GB"),
        (BOOL, 1),
        (STRING_LIST, "a,,b"),
        (JSON, "{"),
    ],
)
def test_bad_defaults_are_rejected_when_declared(kind: FlagKind[Any], default: object) -> None:
    with pytest.raises(FlagError, match=r"^bad default from 'docker': --x: "):
        FlagSet().owned_by("docker").add("x", kind, default=default, help="x")


def test_text_defaults_are_parsed_and_values_accepted() -> None:
    flags = FlagSet()
    flags.add("a", DURATION, default="1mins", help="a")
    flags.add("b", DURATION, default=timedelta(seconds=5), help="b")
    flags.add("c", JSON, default='{"x": 1}', help="c")
    flags.add("d", JSON, default=True, help="d")
    flags.add("e", FLOAT, default=1, help="e")
    parsed = flags.parse([], {})
    assert (parsed.a, parsed.b, parsed.c, parsed.d, parsed.e) == (
        timedelta(minutes=1),
        timedelta(seconds=5),
        {"x": 1},
        True,
        1,
    )


def test_mutable_defaults_are_not_shared(flagset: FlagSet) -> None:
    parse(flagset).containerizers.append("docker")
    assert parse(flagset).containerizers == ["mesos"]


# --- Flags -----------------------------------------------------------------------


def test_attribute_and_item_access(flagset: FlagSet) -> None:
    flags = parse(flagset, "--port=1")
    assert flags.port == flags["port"] == 1
    assert "port" in flags
    assert len(flags) == len(flagset)
    assert flags.get("nope") is None


def test_unknown_name_suggests(flagset: FlagSet) -> None:
    flags = parse(flagset)
    with pytest.raises(AttributeError, match="no flag named 'prot'; did you mean port"):
        _ = flags.prot
    with pytest.raises(KeyError, match="no flag named 'work'"):
        _ = flags["work"]


def test_as_dict_renders_mesos_style(flagset: FlagSet) -> None:
    flags = parse(
        flagset,
        "--containerizers=docker,mesos",
        '--config={"a": [1]}',
        '--default_container_info={"type": "MESOS"}',
        "--docker_remove_delay=90secs",
    )
    rendered = flags.as_dict()
    assert rendered["work_dir"] == "/var/lib/dockyard"
    assert rendered["port"] == "5051"
    assert rendered["ratio"] == "0.5"
    assert rendered["switch_user"] == "true"
    assert rendered["containerizers"] == "docker,mesos"
    assert json.loads(rendered["config"]) == {"a": [1]}
    assert json.loads(rendered["default_container_info"])["type"] == "MESOS"
    assert rendered["docker_remove_delay"] == "1.5mins"
    assert rendered["fetcher_cache_size"] == "2GB"
    assert "environment" not in rendered  # unset flags are left out, as in Mesos


def test_secret_flags_are_hidden(flagset: FlagSet) -> None:
    flagset.add("http_credentials", JSON, help="Credentials.", secret=True)
    flags = parse(flagset, DOCKYARD_HTTP_CREDENTIALS='{"secret": "s3cr3t"}')
    assert flags.http_credentials == {"secret": "s3cr3t"}
    assert flags.as_dict()["http_credentials"] == "(hidden)"
    assert "s3cr3t" not in repr(flags)


# --- help ------------------------------------------------------------------------


def test_help_groups_flags_by_owner_with_defaults(flagset: FlagSet) -> None:
    text = flagset.help()
    core, docker = text.split("\n\n")
    assert core.startswith("core flags:\n")
    assert docker.startswith("docker flags:\n")
    assert "  --work_dir=VALUE\n      Work directory. (default: /var/lib/dockyard)" in core
    assert "  --[no-]switch_user\n      Switch user. (default: true)" in core
    assert "  --containerizers=A,B,...\n      Containerizers. (default: mesos)" in core
    assert "  --config=JSON\n      Some JSON.\n" in core
    assert "  --recover=reconnect|cleanup\n" in core
    assert "  --docker_remove_delay=DURATION\n      Remove delay. (default: 6hrs)" in docker
    assert "  --fetcher_cache_size=BYTES\n      Cache size. (default: 2GB)" in docker
    assert "docker_remove_delay" not in core


def test_help_lists_every_flag(flagset: FlagSet) -> None:
    text = flagset.help()
    for flag in flagset:
        assert f"{flag.name}" in text
