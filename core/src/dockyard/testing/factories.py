"""Valid Mesos messages for tests, with the few fields a test cares about as arguments.

Every factory returns a message that passes :mod:`dockyard.validation`, so a test
fails because of the plugin under test, never because of its own input.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard.containers import ContainerConfig
from dockyard.messages import (
    URI,
    CommandInfo,
    ContainerID,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    DockerNetwork,
    DurationInfo,
    Environment,
    EnvironmentVariable,
    ExecutorID,
    ExecutorInfo,
    ExecutorType,
    KillPolicy,
    Label,
    Labels,
    LaunchContainer,
    Resource,
    Scalar,
    TaskID,
    TaskInfo,
    ValueType,
    dump,
)

DEFAULT_CPUS = 0.1
DEFAULT_MEM_MB = 32.0


def unique_id(prefix: str) -> str:
    """A readable id that no other test uses: ``<prefix>-<8 hex digits>``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def command_info(
    value: str | None = None,
    *,
    shell: bool = True,
    arguments: Sequence[str] = (),
    environment: Mapping[str, str] | None = None,
    uris: Sequence[str | URI] = (),
) -> CommandInfo:
    """A CommandInfo; ``environment`` becomes VALUE variables, ``uris`` plain URIs."""
    return CommandInfo(
        value=value,
        shell=shell,
        arguments=list(arguments),
        environment=environment_of(environment) if environment else None,
        uris=[uri if isinstance(uri, URI) else URI(value=uri) for uri in uris],
    )


def environment_of(variables: Mapping[str, str]) -> Environment:
    return Environment(
        variables=[EnvironmentVariable(name=name, value=value) for name, value in variables.items()]
    )


def resources(cpus: float = DEFAULT_CPUS, mem_mb: float = DEFAULT_MEM_MB) -> list[Resource]:
    """``cpus`` and ``mem`` scalars, as a framework would put in a TaskInfo."""
    return [
        Resource(name="cpus", type=ValueType.SCALAR, scalar=Scalar(value=cpus)),
        Resource(name="mem", type=ValueType.SCALAR, scalar=Scalar(value=mem_mb)),
    ]


def docker_container_info(
    image: str, *, network: DockerNetwork = DockerNetwork.HOST
) -> ContainerInfo:
    """A DOCKER ContainerInfo running ``image``."""
    return ContainerInfo(type=ContainerType.DOCKER, docker=DockerInfo(image=image, network=network))


def mesos_container_info() -> ContainerInfo:
    """A MESOS ContainerInfo with no image (a native process)."""
    return ContainerInfo(type=ContainerType.MESOS)


def task_info(
    command: str | CommandInfo = "true",
    *,
    task_id: str | None = None,
    name: str = "test",
    container: ContainerInfo | None = None,
    environment: Mapping[str, str] | None = None,
    grace_period: timedelta | None = None,
    labels: Mapping[str, str] | None = None,
    cpus: float = DEFAULT_CPUS,
    mem_mb: float = DEFAULT_MEM_MB,
    executor: ExecutorInfo | None = None,
) -> TaskInfo:
    """A command task; a string ``command`` runs under the shell.

    ``task_id`` defaults to a fresh unique id; ``grace_period`` becomes the task's
    KillPolicy; ``labels`` its Labels (the docker plugin copies them onto containers,
    which lets a test find and remove what it created). With ``executor`` (see
    :func:`executor_info`) it is a task of that custom executor instead, and has no
    command of its own.
    """
    if isinstance(command, str):
        command = command_info(command, environment=environment)
    elif environment:
        command.environment = environment_of(environment)
    return TaskInfo(
        name=name,
        task_id=TaskID(value=task_id or unique_id("task")),
        command=None if executor is not None else command,
        executor=executor,
        container=container,
        resources=resources(cpus, mem_mb),
        kill_policy=kill_policy(grace_period) if grace_period is not None else None,
        labels=labels_of(labels) if labels else None,
    )


def kill_policy(grace_period: timedelta) -> KillPolicy:
    return KillPolicy(
        grace_period=DurationInfo(nanoseconds=round(grace_period.total_seconds() * 1e9))
    )


def labels_of(labels: Mapping[str, str]) -> Labels:
    return Labels(labels=[Label(key=key, value=value) for key, value in labels.items()])


def executor_info(
    command: str | CommandInfo = "true",
    *,
    executor_id: str | None = None,
    container: ContainerInfo | None = None,
    labels: Mapping[str, str] | None = None,
    cpus: float = DEFAULT_CPUS,
    mem_mb: float = DEFAULT_MEM_MB,
) -> ExecutorInfo:
    """A custom executor running ``command`` (a string runs under the shell)."""
    if isinstance(command, str):
        command = command_info(command)
    return ExecutorInfo(
        type=ExecutorType.CUSTOM,
        executor_id=ExecutorID(value=executor_id or unique_id("executor")),
        command=command,
        container=container,
        resources=resources(cpus, mem_mb),
        labels=labels_of(labels) if labels else None,
    )


def container_config(
    command: str | CommandInfo,
    *,
    sandbox: Path,
    container_id: str | None = None,
    container_info: ContainerInfo | None = None,
    environment: Mapping[str, str] | None = None,
    grace_period: timedelta | None = None,
    labels: Mapping[str, str] | None = None,
    executor_info: ExecutorInfo | None = None,
) -> ContainerConfig:
    """A ContainerConfig as the agent hands it to hooks, for calling a plugin directly.

    ``environment`` is what the agent would add (``MESOS_*``); the command's own
    variables belong in a :func:`command_info`. ``labels`` become those of the
    ``task_info`` the config then carries, as for a command task (where a plugin's
    ``supports`` finds them); ``executor_info`` makes it an executor's container instead
    (no ``task_info``; put labels on the executor). The sandbox is not created here.
    """
    if labels and executor_info is not None:
        raise ValueError(
            "an executor's container has no task_info for labels: "
            "give them to executor_info(..., labels=...)"
        )
    if isinstance(command, str):
        command = command_info(command)
    return ContainerConfig(
        container_id=ContainerID(value=container_id or str(uuid.uuid4())),
        command=command,
        container_info=container_info,
        resources=resources(),
        sandbox=sandbox,
        environment=dict(environment or {}),
        kill_grace_period=grace_period,
        task_info=task_info(command, container=container_info, labels=labels) if labels else None,
        executor_info=executor_info,
    )


def config_for_task(task: TaskInfo, *, sandbox: Path) -> ContainerConfig:
    """The ContainerConfig the agent would build for ``task`` (without ``MESOS_*``)."""
    assert task.command is not None, "a command task"
    return ContainerConfig(
        container_id=ContainerID(value=str(uuid.uuid4())),
        command=task.command,
        container_info=task.container,
        resources=list(task.resources),
        sandbox=sandbox,
        task_info=task,
    )


def launch_container(
    command: str | CommandInfo,
    *,
    container_id: str | None = None,
    container_info: ContainerInfo | None = None,
) -> LaunchContainer:
    """A ``LAUNCH_CONTAINER`` call body (a standalone container)."""
    if isinstance(command, str):
        command = command_info(command)
    return LaunchContainer(
        container_id=ContainerID(value=container_id or str(uuid.uuid4())),
        command=command,
        container=container_info,
        resources=resources(),
    )


def as_json(message: object) -> dict[str, Any]:
    """The Mesos JSON of a message, e.g. the body of a ``LAUNCH_TASK`` call."""
    return dump(message)
