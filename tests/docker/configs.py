"""Build the ContainerConfigs the core would hand to the docker containerizer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard.containers import ContainerConfig, ContainerOutput, FileOutput, Rotation
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    ContainerInfo,
    ContainerType,
    DockerInfo,
    DockerNetwork,
    Environment,
    EnvironmentVariable,
    Label,
    Labels,
    Parameter,
    Range,
    Ranges,
    Resource,
    Scalar,
    TaskID,
    TaskInfo,
    ValueType,
    Volume,
)

TEST_LABEL = "dockyard.test"
TEST_LABEL_VALUE = f"docker-plugin-{uuid.uuid4().hex[:8]}"
"""Unique per test process, so parallel sessions (pytest -n) never clean up each other."""


def scalar(name: str, value: float) -> Resource:
    return Resource(name=name, type=ValueType.SCALAR, scalar=Scalar(value=value))


def ports(begin: int, end: int) -> Resource:
    return Resource(
        name="ports", type=ValueType.RANGES, ranges=Ranges(range=[Range(begin=begin, end=end)])
    )


def task_config(
    sandbox: Path,
    image: str,
    command: str | None = None,
    *,
    shell: bool = True,
    arguments: list[str] | None = None,
    env: dict[str, str] | None = None,
    variables: list[EnvironmentVariable] | None = None,
    network: DockerNetwork = DockerNetwork.HOST,
    parameters: dict[str, str] | list[tuple[str, str]] | None = None,
    resources: list[Resource] | None = None,
    limits: dict[str, float] | None = None,
    volumes: list[Volume] | None = None,
    force_pull: bool | None = None,
    kill_grace: timedelta | None = None,
    container_id: str | None = None,
    **docker_fields: Any,
) -> ContainerConfig:
    """A command task in a DOCKER container, labelled so the session clean-up finds it."""
    sandbox.mkdir(parents=True, exist_ok=True)
    task_id = f"task-{(container_id or uuid.uuid4().hex)[:8]}"
    pairs = list(parameters.items()) if isinstance(parameters, dict) else (parameters or [])
    all_variables = [EnvironmentVariable(name=k, value=v) for k, v in (env or {}).items()]
    all_variables += variables or []
    command_info = CommandInfo(
        shell=shell,
        value=command,
        arguments=arguments or [],
        environment=Environment(variables=all_variables),
    )
    container = ContainerInfo(
        type=ContainerType.DOCKER,
        volumes=volumes or [],
        docker=DockerInfo(
            image=image,
            network=network,
            force_pull_image=force_pull,
            parameters=[Parameter(key=k, value=v) for k, v in pairs],
            **docker_fields,
        ),
    )
    task = TaskInfo(
        name=task_id,
        task_id=TaskID(value=task_id),
        resources=resources if resources is not None else [scalar("cpus", 0.1), scalar("mem", 32)],
        command=command_info,
        container=container,
        labels=Labels(labels=[Label(key=TEST_LABEL, value=TEST_LABEL_VALUE)]),
        limits={k: Scalar(value=v) for k, v in (limits or {}).items()},
    )
    return ContainerConfig(
        container_id=ContainerID(value=container_id or str(uuid.uuid4())),
        command=command_info,
        container_info=container,
        resources=task.resources,
        limits=task.limits,
        sandbox=sandbox,
        kill_grace_period=kill_grace,
        task_info=task,
    )


def rotating(sandbox: Path, rotation: Rotation) -> ContainerOutput:
    """The sandbox's stdout and stderr, both rotated alike (the logrotate logger's output)."""
    return ContainerOutput(
        stdout=FileOutput(path=sandbox / "stdout", rotation=rotation),
        stderr=FileOutput(path=sandbox / "stderr", rotation=rotation),
    )
