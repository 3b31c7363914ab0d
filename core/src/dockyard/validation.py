"""Mesos's semantic checks on messages whose JSON shape is already valid.

The rules and most reasons follow Mesos (``src/common/validation.cpp``,
``src/master/validation.cpp``, ``src/slave/validation.cpp``); every problem found is
reported at once as a :class:`~dockyard.messages.MessageError` with its JSON path.
"""

from __future__ import annotations

import itertools
import math
import signal
from collections.abc import Callable, Sequence
from typing import Any

from dockyard.id_rules import IdKind, container_id_problems, id_problem
from dockyard.messages import (
    Call,
    CallType,
    CheckInfo,
    CheckType,
    CommandInfo,
    ContainerID,
    ContainerInfo,
    ContainerType,
    DurationInfo,
    Environment,
    ExecutorCall,
    ExecutorCallType,
    ExecutorInfo,
    ExecutorType,
    FrameworkInfo,
    HealthCheck,
    KillContainer,
    KillPolicy,
    KillTask,
    LaunchContainer,
    LaunchTask,
    MessageError,
    Resource,
    Scalar,
    Secret,
    SecretType,
    StatusSource,
    TaskInfo,
    TaskState,
    TaskStatus,
    ValueType,
    VariableType,
    Volume,
    VolumeSourceType,
)
from dockyard.messages.errors import JsonPath

UUID_BYTES = 16


class _Problems:
    """Collects ``(path, reason)`` pairs so that all of them are reported together."""

    def __init__(self) -> None:
        self.found: list[tuple[JsonPath, str]] = []

    def add(self, at: JsonPath, reason: str) -> None:
        self.found.append((at, reason))

    def raise_if_any(self) -> None:
        if self.found:
            raise MessageError.from_problems(self.found)


def _root(path: str) -> JsonPath:
    return (path,) if path else ()


def validate_task(task: TaskInfo, *, path: str = "task") -> None:
    """A task as Mesos's master checks it before launch."""
    problems = _Problems()
    _check_task(task, _root(path), problems)
    problems.raise_if_any()


def validate_executor(executor: ExecutorInfo, *, path: str = "executor") -> None:
    """An executor as Mesos's master checks it before launch."""
    problems = _Problems()
    _check_executor(executor, _root(path), problems)
    problems.raise_if_any()


def validate_container_info(container: ContainerInfo, *, path: str = "container") -> None:
    """A ``ContainerInfo`` (volumes, Docker part), e.g. from ``--default_container_info``."""
    problems = _Problems()
    _check_container_info(container, _root(path), problems)
    problems.raise_if_any()


def validate_container_id(container_id: ContainerID, *, path: str = "container_id") -> None:
    """A container id and all its parents (``validateContainerId``)."""
    problems = _Problems()
    _check_container_id(container_id, _root(path), problems)
    problems.raise_if_any()


def validate_launch_container(launch: LaunchContainer, *, path: str = "launch_container") -> None:
    """The body of ``LAUNCH_CONTAINER`` as Mesos's agent checks it."""
    problems = _Problems()
    _check_launch_container(launch, _root(path), problems)
    problems.raise_if_any()


def validate_call(call: Call, *, path: str = "") -> None:
    """An operator API call: the body its ``type`` needs is present and valid."""
    problems = _Problems()
    if call.type in _CALL_BODIES:
        name, check = _CALL_BODIES[call.type]
        body = getattr(call, name)
        if body is None:
            problems.add(
                (*_root(path), name), f"expecting '{name}' to be present for {call.type.name}"
            )
        else:
            check(body, (*_root(path), name), problems)
    problems.raise_if_any()


def validate_executor_call(call: ExecutorCall) -> None:
    """An executor API call as Mesos's agent checks it (``validateExecutorCall``)."""
    problems = _Problems()
    _check_id(call.executor_id.value, IdKind.EXECUTOR, ("executor_id", "value"), problems)
    _check_id(call.framework_id.value, IdKind.FRAMEWORK, ("framework_id", "value"), problems)
    body_name = call.type.name.lower()
    if call.type in _EXECUTOR_CALL_BODIES and getattr(call, body_name) is None:
        problems.add((body_name,), f"expecting '{body_name}' to be present for {call.type.name}")
    if call.type is ExecutorCallType.UPDATE and call.update is not None:
        _check_executor_update(call, call.update.status, ("update", "status"), problems)
    if call.type is ExecutorCallType.SUBSCRIBE and call.subscribe is not None:
        for index, update in enumerate(call.subscribe.unacknowledged_updates):
            here = ("subscribe", "unacknowledged_updates", index, "status")
            _check_executor_update(call, update.status, here, problems)
    problems.raise_if_any()


def _check_id(value: str, kind: IdKind, at: JsonPath, problems: _Problems) -> None:
    reason = id_problem(value, kind)
    if reason:
        problems.add(at, reason)


def _check_container_id(container_id: ContainerID, at: JsonPath, problems: _Problems) -> None:
    for below, reason in container_id_problems(container_id):
        problems.add((*at, *below), reason)


def _check_framework(framework: FrameworkInfo, at: JsonPath, problems: _Problems) -> None:
    if framework.id is not None:
        _check_id(framework.id.value, IdKind.FRAMEWORK, (*at, "id", "value"), problems)


def _check_task(task: TaskInfo, at: JsonPath, problems: _Problems) -> None:
    _check_id(task.task_id.value, IdKind.TASK, (*at, "task_id", "value"), problems)
    if (task.command is None) == (task.executor is None):
        problems.add(
            at,
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
        )
    if task.agent_id is not None:
        _check_id(task.agent_id.value, IdKind.AGENT, (*at, "agent_id", "value"), problems)
    _check_resources(task.resources, (*at, "resources"), problems)
    _check_limits(task.limits, task.resources, (*at, "limits"), problems)
    if task.command is not None:
        _check_command(task.command, (*at, "command"), problems)
    if task.executor is not None:
        _check_executor(task.executor, (*at, "executor"), problems)
    if task.container is not None:
        _check_container_info(task.container, (*at, "container"), problems)
    _check_kill_policy(task.kill_policy, (*at, "kill_policy"), problems)
    _check_not_negative(task.max_completion_time, (*at, "max_completion_time"), problems)
    if task.health_check is not None:
        _check_health_check(task.health_check, (*at, "health_check"), problems)
    if task.check is not None:
        _check_check(task.check, (*at, "check"), problems)


def _check_executor(executor: ExecutorInfo, at: JsonPath, problems: _Problems) -> None:
    _check_id(executor.executor_id.value, IdKind.EXECUTOR, (*at, "executor_id", "value"), problems)
    if executor.framework_id is not None:
        _check_id(
            executor.framework_id.value, IdKind.FRAMEWORK, (*at, "framework_id", "value"), problems
        )
    if executor.type is ExecutorType.DEFAULT:
        if executor.command is not None:
            problems.add((*at, "command"), "must not be set for a DEFAULT executor")
        container = executor.container
        if container is not None and container.type is not ContainerType.MESOS:
            problems.add((*at, "container", "type"), "must be MESOS for a DEFAULT executor")
    elif executor.type is ExecutorType.UNKNOWN:
        problems.add((*at, "type"), "unknown executor type")
    elif executor.command is None:
        problems.add((*at, "command"), "missing required field")
    if executor.command is not None:
        _check_command(executor.command, (*at, "command"), problems)
    if executor.container is not None:
        _check_container_info(executor.container, (*at, "container"), problems)
    _check_resources(executor.resources, (*at, "resources"), problems)
    _check_not_negative(executor.shutdown_grace_period, (*at, "shutdown_grace_period"), problems)


def _check_launch_container(launch: LaunchContainer, at: JsonPath, problems: _Problems) -> None:
    cid = launch.container_id
    _check_container_id(cid, (*at, "container_id"), problems)
    _check_resources(launch.resources, (*at, "resources"), problems)
    _check_limits(launch.limits, launch.resources, (*at, "limits"), problems)
    if cid.parent is None:
        for index, resource in enumerate(launch.resources):
            reason = _standalone_resource_problem(resource)
            if reason:
                problems.add((*at, "resources", index), reason)
    elif cid.parent.parent is not None:
        if launch.resources:
            problems.add(
                (*at, "resources"), "not allowed for containers nested two or more levels deep"
            )
        if launch.limits:
            problems.add(
                (*at, "limits"), "not allowed for containers nested two or more levels deep"
            )
    if launch.command is not None:
        _check_command(launch.command, (*at, "command"), problems)
    if launch.container is not None:
        _check_container_info(launch.container, (*at, "container"), problems)


def _standalone_resource_problem(resource: Resource) -> str | None:
    if resource.reservations or resource.reservation or resource.role not in (None, "*"):
        return "a standalone container's resources must be unreserved"
    if resource.disk is not None and resource.disk.persistence is not None:
        return "a standalone container's resources must not include a persistent volume"
    if resource.revocable is not None:
        return "a standalone container's resources must be non-revocable"
    return None


def _check_resources(resources: Sequence[Resource], at: JsonPath, problems: _Problems) -> None:
    seen: set[tuple[str, ValueType]] = set()
    for index, resource in enumerate(resources):
        here = (*at, index)
        reason = _resource_problem(resource)
        if reason:
            problems.add(here, reason)
        key = (resource.name, resource.type)
        if resource.name in ("cpus", "mem") and key in seen:
            problems.add((*here, "name"), f"duplicate '{resource.name}' resource")
        seen.add(key)


def _resource_problem(resource: Resource) -> str | None:
    """Why one resource is invalid (``Resources::validate`` and ``validateGpus``)."""
    if not resource.name:
        return "Empty resource name"
    present = {
        ValueType.SCALAR: resource.scalar is not None,
        ValueType.RANGES: resource.ranges is not None,
        ValueType.SET: resource.set is not None,
    }
    if resource.type not in present:
        return f"Unsupported resource type {resource.type.name}"
    if not present[resource.type] or sum(present.values()) != 1:
        return f"Invalid {resource.type.name.lower()} resource"
    if resource.scalar is not None:
        value = resource.scalar.value
        if not math.isfinite(value) or value < 0:
            return "Invalid scalar resource: value must be finite and >= 0"
        if resource.name == "gpus" and not value.is_integer():
            return "The 'gpus' resource must be an unsigned integer"
    if resource.ranges is not None:
        spans = sorted((r.begin, r.end) for r in resource.ranges.range)
        if any(begin > end for begin, end in spans):
            return "Invalid ranges resource: begin > end"
        if any(prev[1] >= nxt[0] for prev, nxt in itertools.pairwise(spans)):
            return "Invalid ranges resource: overlapping ranges"
    if resource.set is not None and len(set(resource.set.item)) != len(resource.set.item):
        return "Duplicated elements found in set"
    return None


def _check_limits(
    limits: dict[str, Scalar],
    resources: Sequence[Resource],
    at: JsonPath,
    problems: _Problems,
) -> None:
    for name, limit in limits.items():
        if name not in ("cpus", "mem"):
            problems.add((*at, name), "limits may only be set for 'cpus' and 'mem'")
            continue
        requested = sum(r.scalar.value for r in resources if r.name == name and r.scalar)
        if limit.value < requested:
            problems.add((*at, name), f"must be at least the requested {name} ({requested:g})")


def _check_command(command: CommandInfo, at: JsonPath, problems: _Problems) -> None:
    if command.environment is not None:
        _check_environment(command.environment, (*at, "environment"), problems)


def _check_environment(environment: Environment, at: JsonPath, problems: _Problems) -> None:
    for index, variable in enumerate(environment.variables):
        here = (*at, "variables", index)
        label = f"Environment variable '{variable.name}'"
        if variable.type is VariableType.SECRET:
            if variable.secret is None:
                problems.add((*here, "secret"), f"{label} of type 'SECRET' must have a secret set")
            else:
                _check_secret(variable.secret, (*here, "secret"), problems)
                value = variable.secret.value
                if value is not None and b"\0" in value.data:
                    problems.add(
                        (*here, "secret", "value", "data"),
                        f"{label} specifies a secret containing null bytes",
                    )
            if variable.value is not None:
                problems.add(
                    (*here, "value"), f"{label} of type 'SECRET' must not have a value set"
                )
        elif variable.type is VariableType.VALUE:
            if variable.value is None:
                problems.add((*here, "value"), f"{label} of type 'VALUE' must have a value set")
            if variable.secret is not None:
                problems.add(
                    (*here, "secret"), f"{label} of type 'VALUE' must not have a secret set"
                )
        else:
            problems.add((*here, "type"), f"{label} of type 'UNKNOWN' is not allowed")


def _check_secret(secret: Secret, at: JsonPath, problems: _Problems) -> None:
    if secret.type is SecretType.REFERENCE:
        if secret.reference is None:
            problems.add((*at, "reference"), "a REFERENCE secret must have 'reference' set")
        if secret.value is not None:
            problems.add((*at, "value"), "a REFERENCE secret must not have 'value' set")
    elif secret.type is SecretType.VALUE:
        if secret.value is None:
            problems.add((*at, "value"), "a VALUE secret must have 'value' set")
        if secret.reference is not None:
            problems.add((*at, "reference"), "a VALUE secret must not have 'reference' set")
    else:
        problems.add((*at, "type"), "secret type must be REFERENCE or VALUE")


def _check_container_info(container: ContainerInfo, at: JsonPath, problems: _Problems) -> None:
    for index, volume in enumerate(container.volumes):
        _check_volume(volume, (*at, "volumes", index), problems)
    if container.type is ContainerType.DOCKER:
        if container.docker is None:
            problems.add(
                (*at, "docker"), "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
            )
        else:
            for index, parameter in enumerate(container.docker.parameters):
                if parameter.key == "name":
                    problems.add(
                        (*at, "docker", "parameters", index, "key"),
                        "Parameter in DockerInfo must not be 'name'",
                    )


_VOLUME_SOURCE_FIELDS = {
    VolumeSourceType.DOCKER_VOLUME: "docker_volume",
    VolumeSourceType.HOST_PATH: "host_path",
    VolumeSourceType.SANDBOX_PATH: "sandbox_path",
    VolumeSourceType.SECRET: "secret",
}


def _check_volume(volume: Volume, at: JsonPath, problems: _Problems) -> None:
    chosen = [volume.host_path, volume.image, volume.source]
    if sum(part is not None for part in chosen) != 1:
        problems.add(at, "Only one of them should be set: 'host_path', 'image' and 'source'")
    source = volume.source
    if source is None:
        return
    needed = _VOLUME_SOURCE_FIELDS.get(source.type) if source.type else None
    if source.type is None or needed is None:
        type_name = source.type.name if source.type else "unset"
        problems.add((*at, "source", "type"), f"unsupported volume source type ({type_name})")
    elif getattr(source, needed) is None:
        problems.add((*at, "source", needed), f"must be set for a {source.type.name} volume")
    elif source.secret is not None:
        _check_secret(source.secret, (*at, "source", "secret"), problems)


def _check_kill_policy(policy: KillPolicy | None, at: JsonPath, problems: _Problems) -> None:
    if policy is not None:
        _check_not_negative(policy.grace_period, (*at, "grace_period"), problems)


def _check_not_negative(duration: DurationInfo | None, at: JsonPath, problems: _Problems) -> None:
    if duration is not None and duration.nanoseconds < 0:
        problems.add((*at, "nanoseconds"), "must be non-negative")


def _check_timings(check: HealthCheck | CheckInfo, at: JsonPath, problems: _Problems) -> None:
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        value = getattr(check, name, 0.0)
        if value < 0:
            problems.add((*at, name), "must be non-negative")


def _check_shell_or_executable(command: CommandInfo, at: JsonPath, problems: _Problems) -> None:
    if command.value is None:
        what = "a shell command" if command.shell else "an executable path"
        problems.add((*at, "value"), f"a command check must contain {what}")
    _check_command(command, at, problems)


def _check_http_path(path: str | None, at: JsonPath, problems: _Problems) -> None:
    if path is not None and not path.startswith("/"):
        problems.add((*at, "path"), f"the path '{path}' must start with '/'")


def _check_health_check(check: HealthCheck, at: JsonPath, problems: _Problems) -> None:
    _check_timings(check, at, problems)
    if check.type is CheckType.COMMAND:
        if check.command is None:
            problems.add((*at, "command"), "expecting 'command' to be set for COMMAND health check")
        else:
            _check_shell_or_executable(check.command, (*at, "command"), problems)
    elif check.type is CheckType.HTTP:
        if check.http is None:
            problems.add((*at, "http"), "expecting 'http' to be set for HTTP health check")
        else:
            if check.http.scheme not in (None, "http", "https"):
                problems.add(
                    (*at, "http", "scheme"),
                    f"unsupported HTTP health check scheme '{check.http.scheme}'",
                )
            _check_http_path(check.http.path, (*at, "http"), problems)
    elif check.type is CheckType.TCP:
        if check.tcp is None:
            problems.add((*at, "tcp"), "expecting 'tcp' to be set for TCP health check")
    else:
        problems.add((*at, "type"), "a health check must specify its type")


def _check_check(check: CheckInfo, at: JsonPath, problems: _Problems) -> None:
    _check_timings(check, at, problems)
    if check.type is CheckType.COMMAND:
        if check.command is None:
            problems.add((*at, "command"), "expecting 'command' to be set for COMMAND check")
        else:
            _check_shell_or_executable(check.command.command, (*at, "command", "command"), problems)
    elif check.type is CheckType.HTTP:
        if check.http is None:
            problems.add((*at, "http"), "expecting 'http' to be set for HTTP check")
        else:
            _check_http_path(check.http.path, (*at, "http"), problems)
    elif check.type is CheckType.TCP:
        if check.tcp is None:
            problems.add((*at, "tcp"), "expecting 'tcp' to be set for TCP check")
    else:
        problems.add((*at, "type"), "a check must specify its type")


def _check_launch_task(launch: LaunchTask, at: JsonPath, problems: _Problems) -> None:
    _check_task(launch.task, (*at, "task"), problems)
    if launch.framework_info is not None:
        _check_framework(launch.framework_info, (*at, "framework_info"), problems)


def _check_kill_task(kill: KillTask, at: JsonPath, problems: _Problems) -> None:
    _check_id(kill.task_id.value, IdKind.TASK, (*at, "task_id", "value"), problems)
    _check_kill_policy(kill.kill_policy, (*at, "kill_policy"), problems)


def _check_container_call(body: Any, at: JsonPath, problems: _Problems) -> None:
    """WAIT/REMOVE_CONTAINER bodies: only the container id needs checking."""
    _check_container_id(body.container_id, (*at, "container_id"), problems)


def _check_kill_container(kill: KillContainer, at: JsonPath, problems: _Problems) -> None:
    _check_container_id(kill.container_id, (*at, "container_id"), problems)
    if kill.signal is not None and not 0 < kill.signal < signal.NSIG:
        problems.add((*at, "signal"), f"must be a signal number from 1 to {signal.NSIG - 1}")


_Checker = Callable[[Any, JsonPath, _Problems], None]

_CALL_BODIES: dict[CallType, tuple[str, _Checker]] = {
    CallType.LAUNCH_CONTAINER: ("launch_container", _check_launch_container),
    CallType.WAIT_CONTAINER: ("wait_container", _check_container_call),
    CallType.KILL_CONTAINER: ("kill_container", _check_kill_container),
    CallType.REMOVE_CONTAINER: ("remove_container", _check_container_call),
    CallType.LAUNCH_TASK: ("launch_task", _check_launch_task),
    CallType.KILL_TASK: ("kill_task", _check_kill_task),
}


_EXECUTOR_CALL_BODIES = (
    ExecutorCallType.SUBSCRIBE,
    ExecutorCallType.UPDATE,
    ExecutorCallType.MESSAGE,
)


def _check_executor_update(
    call: ExecutorCall, status: TaskStatus, at: JsonPath, problems: _Problems
) -> None:
    _check_id(status.task_id.value, IdKind.TASK, (*at, "task_id", "value"), problems)
    if status.uuid is None:
        problems.add((*at, "uuid"), "missing required field")
    elif len(status.uuid) != UUID_BYTES:
        problems.add((*at, "uuid"), f"must be a {UUID_BYTES}-byte UUID")
    if status.executor_id is not None and status.executor_id != call.executor_id:
        problems.add(
            (*at, "executor_id", "value"),
            f"does not match the call's executor id '{call.executor_id.value}'",
        )
    if status.source is not StatusSource.SOURCE_EXECUTOR:
        problems.add((*at, "source"), "must be SOURCE_EXECUTOR")
    if status.state is TaskState.TASK_STAGING:
        problems.add((*at, "state"), "TASK_STAGING is not allowed from an executor")
