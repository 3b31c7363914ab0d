"""Mesos's JSON mapping rules: golden input/output and every kind of bad input."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from dockyard.messages import (
    URI,
    Call,
    CallType,
    Capability,
    CapabilityInfo,
    CommandInfo,
    ContainerID,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    DockerNetwork,
    EnvironmentVariable,
    FrameworkInfo,
    HealthCheck,
    MessageError,
    PortMapping,
    Reason,
    Resource,
    Scalar,
    SecretValue,
    StatusSource,
    TaskInfo,
    TaskState,
    TaskStatus,
    ValueType,
    VariableType,
    dump,
    dumps,
    load,
    loads,
    parse_json,
)
from dockyard.messages.jsontext import compact

MESOS_TASK: dict[str, Any] = {
    "name": "web",
    "task_id": {"value": "web-1"},
    "slave_id": {"value": "agent-1"},
    "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 128}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}},
    ],
    "command": {
        "value": "python3 -m http.server $PORT0",
        "uris": [{"value": "https://example.com/app.tar.gz", "cache": True}],
        "environment": {
            "variables": [
                {"name": "MODE", "value": "prod"},
                {
                    "name": "TOKEN",
                    "type": "SECRET",
                    "secret": {"type": "VALUE", "value": {"data": "czNjcjN0"}},
                },
            ]
        },
    },
    "container": {
        "type": "DOCKER",
        "docker": {
            "image": "python:3.12-slim",
            "network": "BRIDGE",
            "port_mappings": [{"host_port": 31000, "container_port": 8000, "protocol": "tcp"}],
            "parameters": [{"key": "memory-swap", "value": "256m"}],
        },
        "volumes": [{"container_path": "/data", "host_path": "data", "mode": "RW"}],
    },
    "kill_policy": {"grace_period": {"nanoseconds": 3000000000}},
    "health_check": {"type": "HTTP", "http": {"port": 8000, "path": "/"}},
    "labels": {"labels": [{"key": "team", "value": "web"}]},
    "limits": {"cpus": {"value": "Infinity"}},
    "some_future_field": {"ignored": True},
}

MESOS_TASK_OUTPUT: dict[str, Any] = {
    "name": "web",
    "task_id": {"value": "web-1"},
    "agent_id": {"value": "agent-1"},
    "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 128.0}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}},
    ],
    "command": {
        "uris": [{"value": "https://example.com/app.tar.gz", "extract": True, "cache": True}],
        "environment": {
            "variables": [
                {"name": "MODE", "type": "VALUE", "value": "prod"},
                {
                    "name": "TOKEN",
                    "type": "SECRET",
                    "secret": {"type": "VALUE", "value": {"data": "czNjcjN0"}},
                },
            ]
        },
        "shell": True,
        "value": "python3 -m http.server $PORT0",
    },
    "container": {
        "type": "DOCKER",
        "volumes": [{"mode": "RW", "container_path": "/data", "host_path": "data"}],
        "docker": {
            "image": "python:3.12-slim",
            "network": "BRIDGE",
            "port_mappings": [{"host_port": 31000, "container_port": 8000, "protocol": "tcp"}],
            "privileged": False,
            "parameters": [{"key": "memory-swap", "value": "256m"}],
        },
    },
    "health_check": {
        "type": "HTTP",
        "delay_seconds": 15.0,
        "interval_seconds": 10.0,
        "timeout_seconds": 20.0,
        "consecutive_failures": 3,
        "grace_period_seconds": 10.0,
        "http": {"protocol": "IPv4", "port": 8000, "path": "/"},
    },
    "kill_policy": {"grace_period": {"nanoseconds": 3000000000}},
    "labels": {"labels": [{"key": "team", "value": "web"}]},
    "limits": {"cpus": {"value": "Infinity"}},
}


def errors_of(cls: type[Any], data: Any, path: str = "task") -> list[tuple[str, str]]:
    with pytest.raises(MessageError) as caught:
        load(cls, data, path=path)
    return caught.value.errors


def minimal_task(**extra: Any) -> dict[str, Any]:
    return {"name": "t", "task_id": {"value": "t1"}, **extra}


def test_mesos_task_loads_into_typed_fields() -> None:
    """A TaskInfo as Mesos writes it becomes typed dataclasses, v0 names included."""
    task = load(TaskInfo, MESOS_TASK)
    assert task.agent_id is not None
    assert task.agent_id.value == "agent-1"
    assert task.resources[1] == Resource(
        name="mem", type=ValueType.SCALAR, scalar=Scalar(value=128)
    )
    assert task.command is not None
    assert task.command.uris == [URI(value="https://example.com/app.tar.gz", cache=True)]
    assert task.command.environment is not None
    secret = task.command.environment.variables[1].secret
    assert secret is not None
    assert secret.value == SecretValue(data=b"s3cr3t")
    assert task.container is not None
    assert task.container.docker is not None
    assert task.container.docker.network is DockerNetwork.BRIDGE
    assert math.isinf(task.limits["cpus"].value)


def test_mesos_task_dumps_with_proto_defaults() -> None:
    """Output has set fields plus explicit non-deprecated defaults, in Mesos's shape."""
    assert dump(load(TaskInfo, MESOS_TASK)) == MESOS_TASK_OUTPUT


def test_secret_data_stays_out_of_repr() -> None:
    """Secrets must not reach logs through a dataclass repr."""
    assert "s3cr3t" not in repr(load(TaskInfo, MESOS_TASK))


def test_unset_optional_and_empty_repeated_fields_are_not_written() -> None:
    """None is never emitted and neither are empty lists or maps."""
    assert dump(CommandInfo(value="true")) == {"shell": True, "value": "true"}
    assert dump(ContainerID(value="c")) == {"value": "c"}


def test_defaults_are_written_even_when_constructed_in_python() -> None:
    """DockerInfo's HOST network and privileged=false appear without being set."""
    docker = ContainerInfo(type=ContainerType.MESOS, docker=DockerInfo(image="busybox"))
    assert dump(docker)["docker"] == {"image": "busybox", "network": "HOST", "privileged": False}


def test_null_means_unset() -> None:
    """null for an optional field leaves it unset; for a required one it is missing."""
    task = load(TaskInfo, minimal_task(command=None, container=None, resources=None))
    assert task.command is None
    assert task.resources == []
    assert errors_of(TaskInfo, minimal_task(name=None)) == [("task.name", "missing required field")]


def test_numbers_and_booleans_may_be_strings() -> None:
    """Mesos accepts JSON strings holding a number or a bool."""
    uri = load(URI, {"value": "x", "extract": "false", "executable": "true"})
    assert (uri.extract, uri.executable) == (False, True)
    check = load(HealthCheck, {"delay_seconds": "1.5", "consecutive_failures": "7"})
    assert (check.delay_seconds, check.consecutive_failures) == (1.5, 7)


def test_doubles_accept_infinity_strings() -> None:
    """Limits may be unlimited; -Infinity loads too and is written back as a string."""
    assert load(Scalar, {"value": "-Infinity"}).value == -math.inf
    assert dumps(Scalar(value=math.inf)) == '{"value": "Infinity"}'


def test_v0_names_are_read_as_v1() -> None:
    """slave_id, SOURCE_SLAVE and REASON_SLAVE_* load and are written with v1 names."""
    status = load(
        TaskStatus,
        {
            "task_id": {"value": "t"},
            "state": "TASK_LOST",
            "slave_id": {"value": "a"},
            "source": "SOURCE_SLAVE",
            "reason": "REASON_SLAVE_RESTARTED",
        },
    )
    assert status.source is StatusSource.SOURCE_AGENT
    assert status.reason is Reason.REASON_AGENT_RESTARTED
    assert dump(status) == {
        "task_id": {"value": "t"},
        "state": "TASK_LOST",
        "source": "SOURCE_AGENT",
        "reason": "REASON_AGENT_RESTARTED",
        "agent_id": {"value": "a"},
    }


def test_v1_name_wins_over_v0_name() -> None:
    task = load(TaskInfo, minimal_task(agent_id={"value": "v1"}, slave_id={"value": "v0"}))
    assert task.agent_id is not None
    assert task.agent_id.value == "v1"


def test_bytes_are_base64() -> None:
    status = TaskStatus(
        task_id=load(TaskInfo, minimal_task()).task_id,
        state=TaskState.TASK_RUNNING,
        data=b"\x00\xffhi",
    )
    assert dump(status)["data"] == "AP9oaQ=="
    assert load(TaskStatus, dump(status)).data == b"\x00\xffhi"


def test_unknown_optional_enum_is_unset() -> None:
    """Mesos drops an unknown name in an optional enum, so the proto default applies."""
    variable = load(EnvironmentVariable, {"name": "A", "value": "1", "type": "NEW_KIND"})
    assert variable.type is VariableType.VALUE
    status = load(
        TaskStatus,
        {"task_id": {"value": "t"}, "state": "TASK_FAILED", "reason": "REASON_FROM_THE_FUTURE"},
    )
    assert status.reason is None


def test_unknown_required_enum_is_an_error() -> None:
    assert errors_of(ContainerInfo, {"type": "LXC"}, path="task.container") == [
        ("task.container.type", "unknown enum value 'LXC' (expected one of DOCKER, MESOS)")
    ]


def test_unknown_keys_are_ignored_at_every_level() -> None:
    data = minimal_task(
        extra=1,
        task_id={"value": "t1", "extra": [1]},
        command={"value": "x", "uris": [{"value": "u", "extra": {}}]},
    )
    assert dump(load(TaskInfo, data))["command"]["uris"] == [{"value": "u", "extract": True}]


def test_missing_required_field_path() -> None:
    """The contract's own example: the full dotted path of the missing field."""
    data = minimal_task(container={"type": "DOCKER", "docker": {"network": "HOST"}})
    assert errors_of(TaskInfo, data) == [("task.container.docker.image", "missing required field")]


def test_list_indices_in_paths_and_errors_sorted() -> None:
    """All errors are reported, sorted by path with list indices compared as numbers."""
    resources: list[Any] = [{"name": "cpus", "type": "SCALAR"}] * 2
    resources += [{"type": "SCALAR"}] * 9 + [{"name": 5, "type": "SCALAR"}]
    with pytest.raises(MessageError) as caught:
        load(TaskInfo, minimal_task(resources=resources), path="task")
    error = caught.value
    assert error.errors[0] == ("task.resources[2].name", "missing required field")
    assert error.errors[-1] == ("task.resources[11].name", "not a valid string")
    assert len(error.errors) == 10
    assert str(error).startswith(
        "task.resources[2].name: missing required field; task.resources[3].name: "
    )


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        (minimal_task(task_id="t1"), "task.task_id", "expected an object"),
        (minimal_task(name=["t"]), "task.name", "not a valid string"),
        (minimal_task(resources={"name": "cpus"}), "task.resources", "not a valid list"),
        (
            minimal_task(command={"arguments": "ls -l"}),
            "task.command.arguments",
            "not a valid list",
        ),
        (
            minimal_task(command={"arguments": ["ls", 1]}),
            "task.command.arguments[1]",
            "not a valid string",
        ),
        (minimal_task(command={"shell": "yes"}), "task.command.shell", "not a valid boolean"),
        (minimal_task(command={"shell": 1}), "task.command.shell", "not a valid boolean"),
        (
            minimal_task(kill_policy={"grace_period": {"nanoseconds": 1.5}}),
            "task.kill_policy.grace_period.nanoseconds",
            "not a valid integer",
        ),
        (
            minimal_task(kill_policy={"grace_period": {"nanoseconds": True}}),
            "task.kill_policy.grace_period.nanoseconds",
            "not a valid integer",
        ),
        (
            minimal_task(kill_policy={"grace_period": {"nanoseconds": "5s"}}),
            "task.kill_policy.grace_period.nanoseconds",
            "not a valid integer",
        ),
        (
            minimal_task(health_check={"consecutive_failures": -1}),
            "task.health_check.consecutive_failures",
            "-1 is out of range for uint32",
        ),
        (
            minimal_task(limits={"cpus": {"value": "lots"}}),
            "task.limits.cpus.value",
            "not a valid number",
        ),
        (
            minimal_task(limits={"cpus": {"value": "NaN"}}),
            "task.limits.cpus.value",
            "not a valid number",
        ),
        (minimal_task(limits=[1]), "task.limits", "not a valid object"),
        (minimal_task(data="not base64!"), "task.data", "not valid base64"),
        (minimal_task(data=7), "task.data", "not a valid base64 string"),
        (minimal_task(container={"type": 1}), "task.container.type", "not a valid enum name"),
        (minimal_task(resources=[None]), "task.resources[0]", "must not be null"),
        ([minimal_task()], "task", "expected an object"),
    ],
)
def test_type_errors_name_the_field(data: Any, path: str, reason: str) -> None:
    assert errors_of(TaskInfo, data) == [(path, reason)]


def test_root_path_is_optional() -> None:
    assert errors_of(TaskInfo, {"task_id": {"value": "x"}}, path="") == [
        ("name", "missing required field")
    ]
    with pytest.raises(MessageError, match=r"^expected an object$"):
        load(TaskInfo, 3)


def test_loads_rejects_bad_json_text() -> None:
    with pytest.raises(MessageError, match=r"^task: not valid JSON"):
        loads(TaskInfo, "{'name': 1}", path="task")


def test_message_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="missing required field"):
        load(Call, {})


def test_operator_call_with_dockyard_launch_task() -> None:
    call = load(Call, {"type": "LAUNCH_TASK", "launch_task": {"task": MESOS_TASK}})
    assert call.type is CallType.LAUNCH_TASK
    assert call.launch_task is not None
    assert call.launch_task.task == load(TaskInfo, MESOS_TASK)


def test_nested_container_id_string_form() -> None:
    cid = load(ContainerID, {"value": "child", "parent": {"value": "root"}})
    assert str(cid) == "root.child"


def test_unknown_names_in_a_repeated_enum_are_dropped() -> None:
    info = load(CapabilityInfo, {"capabilities": ["CHOWN", "TIME_TRAVEL", "KILL"]})
    assert info.capabilities == [Capability.CHOWN, Capability.KILL]


def test_deprecated_defaults_are_not_written_but_others_are() -> None:
    """Resource.role ("*") and FrameworkInfo.role are deprecated; failover_timeout is not."""
    resource = Resource(name="cpus", type=ValueType.SCALAR, scalar=Scalar(value=1))
    assert "role" not in dump(resource)
    assert dump(FrameworkInfo(user="u", name="n")) == {
        "user": "u",
        "name": "n",
        "failover_timeout": 0.0,
        "checkpoint": False,
    }


def test_ids_are_hashable_values() -> None:
    """IDs key dicts and sets; equal ids are the same key."""
    first = ContainerID(value="b", parent=ContainerID(value="a"))
    second = load(ContainerID, {"value": "b", "parent": {"value": "a"}})
    assert {first: 1}[second] == 1


def test_ints_must_be_whole_numbers_in_range() -> None:
    """A JSON 5.0 is an integer; 2**32 does not fit a uint32."""
    assert load(PortMapping, {"host_port": 5.0, "container_port": "+6"}).host_port == 5
    with pytest.raises(MessageError, match="container_port: 4294967296 is out of range"):
        load(PortMapping, {"host_port": 1, "container_port": 2**32})


def test_an_integer_string_of_thousands_of_digits_is_refused() -> None:
    """``int()`` raises ValueError beyond 4300 digits; it must not escape the schema."""
    with pytest.raises(MessageError, match="container_port: not a valid integer"):
        load(PortMapping, {"host_port": 1, "container_port": "9" * 5000})


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"\xff{}", r"^task: not valid UTF-8 \(byte 0xff at 0\)$"),
        ('{"name": "\\ud800"}', r"^task\.name: contains a lone surrogate \(\\ud800\)"),
        ('{"a": [{"\\udfff": 1}]}', r"^task\.a\[0\]: an object key contains a lone surrogate"),
        ('{"name": ' + "1" * 5000 + "}", r"^task: a number has more than 4300 digits$"),
        ("[" * 100_000, r"^task: nested more than 64 levels deep$"),
        ("[" * 65 + "]" * 65, r"^task: nested more than 64 levels deep$"),
    ],
)
def test_untrusted_json_text_is_refused_with_a_message_error(text: str | bytes, error: str) -> None:
    with pytest.raises(MessageError, match=error):
        parse_json(text, path="task")


def test_json_nested_64_levels_deep_is_accepted() -> None:
    assert parse_json("[" * 64 + "]" * 64) == parse_json(("[" * 64 + "]" * 64).encode())


@pytest.mark.parametrize(
    "value",
    [
        MESOS_TASK,
        {"big": 10**30, "small": -(10**30), "nested": [{"x": 2**64}]},
        {"text": 'é \u2028 \U0001f600 "quoted" \\ </script>', "float": 0.1, "tiny": 1e-7},
    ],
)
def test_compact_json_reads_back_as_the_same_value(value: Any) -> None:
    assert parse_json(compact(value)) == value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": "\\ud800"}', "a: contains a lone surrogate (\\ud800)"),
        ('{"a": "\\uDFFF x"}', "a: contains a lone surrogate (\\udfff)"),
        ('{"a": ["\udc80"]}', "a[0]: contains a lone surrogate (\\udc80)"),  # surrogateescape
        ('{"\\udc80": 1}', "contains a lone surrogate"),
        ("[" * 65 + "]" * 65, "nested more than 64 levels deep"),
        ('{"a":' * 65 + "1" + "}" * 65, "nested more than 64 levels deep"),
    ],
)
def test_parse_json_refuses_what_no_message_may_hold(text: str, problem: str) -> None:
    with pytest.raises(MessageError, match=re.escape(problem)):
        parse_json(text)


@pytest.mark.parametrize(
    "text",
    ["[" * 64 + "]" * 64, '{"a": "\\u00e9 \\n", "b": "é 😀"}', '{"brackets": "' + "[{" * 40 + '"}'],
)
def test_parse_json_takes_what_keeps_the_rules(text: str) -> None:
    assert parse_json(text) is not None
