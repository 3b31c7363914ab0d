"""Mesos's semantic validation: each rule, with the exact path it reports."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from dockyard.messages import (
    Call,
    ContainerID,
    ExecutorCall,
    LaunchContainer,
    MessageError,
    TaskInfo,
    load,
)
from dockyard.validation import (
    validate_call,
    validate_container_id,
    validate_executor_call,
    validate_launch_container,
    validate_task,
)

CONTAINER_WHY = "so that its checkpoint file name fits in NAME_MAX"
BOTH_OR_NEITHER = (
    "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
)


def task(**extra: Any) -> TaskInfo:
    data = {"name": "t", "task_id": {"value": "t1"}, "command": {"value": "true"}, **extra}
    return load(TaskInfo, {k: v for k, v in data.items() if v is not None})


def task_errors(value: TaskInfo) -> list[tuple[str, str]]:
    with pytest.raises(MessageError) as caught:
        validate_task(value)
    return caught.value.errors


def cpus(value: Any, name: str = "cpus") -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def test_a_plain_command_task_is_valid() -> None:
    validate_task(task(resources=[cpus(0.1), cpus(32, "mem")], limits={"cpus": {"value": 1}}))


@pytest.mark.parametrize(
    "extra",
    [
        {"command": None},
        {"executor": {"executor_id": {"value": "e"}, "command": {"value": "x"}}},
    ],
    ids=["neither", "both"],
)
def test_exactly_one_of_command_or_executor(extra: dict[str, Any]) -> None:
    assert task_errors(task(**extra)) == [("task", BOTH_OR_NEITHER)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "ID must not be empty"),
        ("..", "'..' is disallowed"),
        (".", "'.' is disallowed"),
        ("a/b", "'a/b' contains invalid characters"),
        ("a\\b", "'a\\\\b' contains invalid characters"),
        ("a\nb", "'a\\nb' contains invalid characters"),
        ("x" * 256, "ID must not be greater than 255 bytes"),
        ("é" * 128, "ID must not be greater than 255 bytes"),
        ("\ud800", "ID must be valid Unicode (it contains a lone surrogate)"),
    ],
)
def test_task_id_rules(value: str, reason: str) -> None:
    assert task_errors(task(task_id={"value": value})) == [("task.task_id.value", reason)]


def test_the_longest_task_id_is_valid() -> None:
    validate_task(task(task_id={"value": "x" * 255}))


def test_executor_and_framework_ids_are_checked() -> None:
    executor = {
        "executor_id": {"value": "../up"},
        "framework_id": {"value": "f/1"},
        "command": {"value": "x"},
    }
    assert task_errors(task(command=None, executor=executor)) == [
        ("task.executor.executor_id.value", "'../up' contains invalid characters"),
        ("task.executor.framework_id.value", "'f/1' contains invalid characters"),
    ]


def test_custom_executor_needs_a_command() -> None:
    executor = {"executor_id": {"value": "e"}, "type": "CUSTOM"}
    assert task_errors(task(command=None, executor=executor)) == [
        ("task.executor.command", "missing required field")
    ]


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (cpus(-1), "Invalid scalar resource: value must be finite and >= 0"),
        (cpus("Infinity"), "Invalid scalar resource: value must be finite and >= 0"),
        ({"name": "cpus", "type": "SCALAR"}, "Invalid scalar resource"),
        (
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "set": {"item": ["a"]}},
            "Invalid scalar resource",
        ),
        (cpus(1.5, "gpus"), "The 'gpus' resource must be an unsigned integer"),
        (
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 9, "end": 1}]}},
            "Invalid ranges resource: begin > end",
        ),
        (
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": 1, "end": 5}, {"begin": 5, "end": 6}]},
            },
            "Invalid ranges resource: overlapping ranges",
        ),
        (
            {"name": "disks", "type": "SET", "set": {"item": ["a", "a"]}},
            "Duplicated elements found in set",
        ),
        ({"name": "note", "type": "TEXT"}, "Unsupported resource type TEXT"),
        (cpus(1, ""), "Empty resource name"),
    ],
)
def test_resource_rules(resource: dict[str, Any], reason: str) -> None:
    assert task_errors(task(resources=[cpus(1, "mem"), resource])) == [
        ("task.resources[1]", reason)
    ]


def test_duplicate_cpus_are_rejected() -> None:
    assert task_errors(task(resources=[cpus(1), cpus(32, "mem"), cpus(2)])) == [
        ("task.resources[2].name", "duplicate 'cpus' resource")
    ]


def test_limits_rules() -> None:
    limits = {"disk": {"value": 1}, "cpus": {"value": 0.5}}
    assert task_errors(task(resources=[cpus(1)], limits=limits)) == [
        ("task.limits.cpus", "must be at least the requested cpus (1)"),
        ("task.limits.disk", "limits may only be set for 'cpus' and 'mem'"),
    ]


def env(*variables: dict[str, Any]) -> dict[str, Any]:
    return {"value": "true", "environment": {"variables": list(variables)}}


SECRET = {"type": "VALUE", "value": {"data": "eA=="}}
VARIABLES = "task.command.environment.variables[0]"


@pytest.mark.parametrize(
    ("variable", "path", "reason"),
    [
        (
            {"name": "S", "type": "SECRET"},
            f"{VARIABLES}.secret",
            "Environment variable 'S' of type 'SECRET' must have a secret set",
        ),
        (
            {"name": "S", "type": "SECRET", "secret": SECRET, "value": "x"},
            f"{VARIABLES}.value",
            "Environment variable 'S' of type 'SECRET' must not have a value set",
        ),
        (
            {"name": "S", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": "AA=="}}},
            f"{VARIABLES}.secret.value.data",
            "Environment variable 'S' specifies a secret containing null bytes",
        ),
        (
            {"name": "S", "type": "SECRET", "secret": {"type": "REFERENCE"}},
            f"{VARIABLES}.secret.reference",
            "a REFERENCE secret must have 'reference' set",
        ),
        (
            {"name": "V"},
            f"{VARIABLES}.value",
            "Environment variable 'V' of type 'VALUE' must have a value set",
        ),
        (
            {"name": "V", "value": "x", "secret": SECRET},
            f"{VARIABLES}.secret",
            "Environment variable 'V' of type 'VALUE' must not have a secret set",
        ),
        (
            {"name": "U", "type": "UNKNOWN", "value": "x"},
            f"{VARIABLES}.type",
            "Environment variable 'U' of type 'UNKNOWN' is not allowed",
        ),
    ],
)
def test_environment_rules(variable: dict[str, Any], path: str, reason: str) -> None:
    assert task_errors(task(command=env(variable))) == [(path, reason)]


def docker(**extra: Any) -> dict[str, Any]:
    return {"type": "DOCKER", "docker": {"image": "busybox"}, **extra}


@pytest.mark.parametrize(
    ("container", "path", "reason"),
    [
        (
            {"type": "DOCKER"},
            "task.container.docker",
            "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo",
        ),
        (
            {
                "type": "DOCKER",
                "docker": {"image": "b", "parameters": [{"key": "name", "value": "x"}]},
            },
            "task.container.docker.parameters[0].key",
            "Parameter in DockerInfo must not be 'name'",
        ),
        (
            docker(volumes=[{"mode": "RW", "container_path": "/c"}]),
            "task.container.volumes[0]",
            "Only one of them should be set: 'host_path', 'image' and 'source'",
        ),
        (
            docker(
                volumes=[
                    {
                        "mode": "RO",
                        "container_path": "/c",
                        "host_path": "/h",
                        "source": {"type": "DOCKER_VOLUME", "docker_volume": {"name": "v"}},
                    }
                ]
            ),
            "task.container.volumes[0]",
            "Only one of them should be set: 'host_path', 'image' and 'source'",
        ),
        (
            docker(
                volumes=[
                    {"mode": "RO", "container_path": "/c", "source": {"type": "DOCKER_VOLUME"}}
                ]
            ),
            "task.container.volumes[0].source.docker_volume",
            "must be set for a DOCKER_VOLUME volume",
        ),
        (
            docker(volumes=[{"mode": "RO", "container_path": "/c", "source": {}}]),
            "task.container.volumes[0].source.type",
            "unsupported volume source type (unset)",
        ),
    ],
)
def test_container_rules(container: dict[str, Any], path: str, reason: str) -> None:
    assert task_errors(task(container=container)) == [(path, reason)]


def test_negative_durations() -> None:
    value = task(
        kill_policy={"grace_period": {"nanoseconds": -1}},
        max_completion_time={"nanoseconds": -5},
    )
    assert task_errors(value) == [
        ("task.kill_policy.grace_period.nanoseconds", "must be non-negative"),
        ("task.max_completion_time.nanoseconds", "must be non-negative"),
    ]


@pytest.mark.parametrize(
    ("check", "path", "reason"),
    [
        ({}, "task.health_check.type", "a health check must specify its type"),
        (
            {"type": "HTTP"},
            "task.health_check.http",
            "expecting 'http' to be set for HTTP health check",
        ),
        (
            {"type": "TCP"},
            "task.health_check.tcp",
            "expecting 'tcp' to be set for TCP health check",
        ),
        (
            {"type": "COMMAND"},
            "task.health_check.command",
            "expecting 'command' to be set for COMMAND health check",
        ),
        (
            {"type": "COMMAND", "command": {}},
            "task.health_check.command.value",
            "a command check must contain a shell command",
        ),
        (
            {"type": "HTTP", "http": {"port": 80, "path": "health"}},
            "task.health_check.http.path",
            "the path 'health' must start with '/'",
        ),
        (
            {"type": "HTTP", "http": {"port": 80, "scheme": "ftp"}},
            "task.health_check.http.scheme",
            "unsupported HTTP health check scheme 'ftp'",
        ),
        (
            {"type": "TCP", "tcp": {"port": 1}, "timeout_seconds": -1},
            "task.health_check.timeout_seconds",
            "must be non-negative",
        ),
    ],
)
def test_health_check_rules(check: dict[str, Any], path: str, reason: str) -> None:
    assert task_errors(task(health_check=check)) == [(path, reason)]


def test_check_rules() -> None:
    check = {"type": "COMMAND", "command": {"command": {"shell": False}}, "delay_seconds": -2}
    assert task_errors(task(check=check)) == [
        ("task.check.command.command.value", "a command check must contain an executable path"),
        ("task.check.delay_seconds", "must be non-negative"),
    ]


def nested_container_id(levels: int) -> dict[str, Any]:
    container_id: dict[str, Any] = {"value": "c0"}
    for level in range(1, levels):
        container_id = {"value": f"c{level}", "parent": container_id}
    return container_id


@pytest.mark.parametrize(
    ("container_id", "path", "reason"),
    [
        (
            {"value": "a.b"},
            "container_id.value",
            "'a.b' contains invalid characters ('.' and ' ' are not allowed)",
        ),
        (
            {"value": "a b"},
            "container_id.value",
            "'a b' contains invalid characters ('.' and ' ' are not allowed)",
        ),
        ({"value": "a/b"}, "container_id.value", "'a/b' contains invalid characters"),
        (
            {"value": "c" * 237},
            "container_id.value",
            f"ID must not be greater than 236 bytes, {CONTAINER_WHY}",
        ),
        (
            {"value": "c" * 200, "parent": {"value": "p" * 36}},
            "container_id",
            f"'{'p' * 36}.{'c' * 200}' (the parents and the container joined with '.') "
            f"must not be greater than 236 bytes, {CONTAINER_WHY}",
        ),
        (nested_container_id(33), "container_id", "must not be nested more than 32 levels deep"),
        (
            {"value": "ok", "parent": {"value": ".."}},
            "container_id.parent.value",
            "'..' is disallowed",
        ),
        (
            {"value": "ok", "parent": {"value": "ok", "parent": {"value": ""}}},
            "container_id.parent.parent.value",
            "ID must not be empty",
        ),
    ],
)
def test_container_id_rules(container_id: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        validate_container_id(load(ContainerID, container_id))
    assert caught.value.errors == [(path, reason)]


def test_valid_nested_container_id() -> None:
    validate_container_id(load(ContainerID, {"value": "b", "parent": {"value": "a"}}))
    validate_container_id(load(ContainerID, nested_container_id(32)))
    validate_container_id(load(ContainerID, {"value": "c" * 236}))


def launch(**extra: Any) -> LaunchContainer:
    return load(LaunchContainer, {"container_id": {"value": "c"}, **extra})


def test_launch_container_rules() -> None:
    reserved = {**cpus(1), "reservations": [{"type": "STATIC", "role": "r"}]}
    with pytest.raises(MessageError) as caught:
        validate_launch_container(
            launch(
                resources=[reserved, {**cpus(5, "mem"), "revocable": {}}],
                container={"type": "DOCKER"},
            )
        )
    assert caught.value.errors == [
        (
            "launch_container.container.docker",
            "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo",
        ),
        ("launch_container.resources[0]", "a standalone container's resources must be unreserved"),
        (
            "launch_container.resources[1]",
            "a standalone container's resources must be non-revocable",
        ),
    ]


def test_deeply_nested_container_may_not_set_resources() -> None:
    nested = {"value": "c", "parent": {"value": "b", "parent": {"value": "a"}}}
    with pytest.raises(MessageError) as caught:
        validate_launch_container(launch(container_id=nested, resources=[cpus(1)]))
    assert caught.value.errors == [
        ("launch_container.resources", "not allowed for containers nested two or more levels deep")
    ]


@pytest.mark.parametrize(
    ("call", "path", "reason"),
    [
        (
            {"type": "LAUNCH_CONTAINER"},
            "launch_container",
            "expecting 'launch_container' to be present for LAUNCH_CONTAINER",
        ),
        (
            {"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "a.b"}}},
            "kill_container.container_id.value",
            "'a.b' contains invalid characters ('.' and ' ' are not allowed)",
        ),
        (
            {
                "type": "KILL_CONTAINER",
                "kill_container": {"container_id": {"value": "c"}, "signal": 0},
            },
            "kill_container.signal",
            f"must be a signal number from 1 to {signal.NSIG - 1}",
        ),
        (
            {
                "type": "LAUNCH_TASK",
                "launch_task": {
                    "task": {"name": "t", "task_id": {"value": "t"}, "command": {}},
                    "framework_info": {"user": "u", "name": "f", "id": {"value": "../../srv"}},
                },
            },
            "launch_task.framework_info.id.value",
            "'../../srv' contains invalid characters",
        ),
        (
            {"type": "KILL_TASK", "kill_task": {"task_id": {"value": "t" * 256}}},
            "kill_task.task_id.value",
            "ID must not be greater than 255 bytes",
        ),
        (
            {
                "type": "LAUNCH_TASK",
                "launch_task": {"task": {"name": "t", "task_id": {"value": ""}}},
            },
            "launch_task.task",
            BOTH_OR_NEITHER,
        ),
        (
            {
                "type": "KILL_TASK",
                "kill_task": {
                    "task_id": {"value": "t"},
                    "kill_policy": {"grace_period": {"nanoseconds": -1}},
                },
            },
            "kill_task.kill_policy.grace_period.nanoseconds",
            "must be non-negative",
        ),
    ],
)
def test_call_rules(call: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        validate_call(load(Call, call))
    assert (path, reason) in caught.value.errors


def test_calls_without_a_body_are_valid() -> None:
    validate_call(load(Call, {"type": "GET_HEALTH"}))


def executor_call(**extra: Any) -> ExecutorCall:
    data = {"executor_id": {"value": "e"}, "framework_id": {"value": "f"}, **extra}
    return load(ExecutorCall, data)


UUID = "AAECAwQFBgcICQoLDA0ODw=="  # 16 bytes


def test_a_good_executor_update_is_valid() -> None:
    status = {
        "task_id": {"value": "t"},
        "state": "TASK_RUNNING",
        "source": "SOURCE_EXECUTOR",
        "uuid": UUID,
        "executor_id": {"value": "e"},
    }
    validate_executor_call(executor_call(type="UPDATE", update={"status": status}))


@pytest.mark.parametrize(
    ("extra", "errors"),
    [
        (
            {"type": "SUBSCRIBE"},
            [("subscribe", "expecting 'subscribe' to be present for SUBSCRIBE")],
        ),
        ({"type": "MESSAGE"}, [("message", "expecting 'message' to be present for MESSAGE")]),
        (
            {"type": "HEARTBEAT", "executor_id": {"value": ".."}},
            [("executor_id.value", "'..' is disallowed")],
        ),
        (
            {
                "type": "UPDATE",
                "update": {
                    "status": {
                        "task_id": {"value": "t"},
                        "state": "TASK_STAGING",
                        "source": "SOURCE_AGENT",
                        "executor_id": {"value": "other"},
                        "uuid": "AAEC",
                    }
                },
            },
            [
                ("update.status.executor_id.value", "does not match the call's executor id 'e'"),
                ("update.status.source", "must be SOURCE_EXECUTOR"),
                ("update.status.state", "TASK_STAGING is not allowed from an executor"),
                ("update.status.uuid", "must be a 16-byte UUID"),
            ],
        ),
        (
            {
                "type": "UPDATE",
                "update": {
                    "status": {
                        "task_id": {"value": "t"},
                        "state": "TASK_RUNNING",
                        "source": "SOURCE_EXECUTOR",
                    }
                },
            },
            [("update.status.uuid", "missing required field")],
        ),
    ],
)
def test_executor_call_rules(extra: dict[str, Any], errors: list[tuple[str, str]]) -> None:
    with pytest.raises(MessageError) as caught:
        validate_executor_call(executor_call(**extra))
    assert caught.value.errors == errors
