"""exec_in_container on the real Engine: what a COMMAND health check runs inside a container."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import timedelta

import pytest
from docker import APIClient
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    Environment,
    EnvironmentVariable,
    Secret,
    SecretType,
    SecretValue,
    VariableType,
)

from tests.docker.configs import task_config
from tests.docker.waiting import until

LIMIT = timedelta(seconds=30)
TREE = "sleep 1001 & sleep 1002 & echo > $MESOS_SANDBOX/ready; wait"
"""A command that starts children and outlives any time limit."""


@pytest.fixture
async def running(agent, busybox_image, tmp_path):
    config = task_config(tmp_path, busybox_image, "exec sleep 2000")
    await agent.plugin.prepare(config)
    launched = await agent.plugin.launch(config)
    return config, launched.handle["docker_id"]


def shell(value: str, **env: str) -> CommandInfo:
    variables = [EnvironmentVariable(name=k, value=v) for k, v in env.items()]
    return CommandInfo(value=value, environment=Environment(variables=variables))


def processes(api: APIClient, docker_id: str) -> str:
    """The command lines running in the container (zombies keep no arguments)."""
    listed = api.top(docker_id)
    column = listed["Titles"].index("CMD")
    return "\n".join(row[column] for row in listed["Processes"])


@pytest.mark.parametrize(("command", "status"), [("true", 0), ("exit 3", 3 << 8)])
async def test_the_raw_wait_status_of_a_shell_command(agent, running, command, status):
    config, _ = running
    assert await agent.plugin.exec_in_container(config.container_id, shell(command), LIMIT) == (
        status
    )


async def test_without_shell_value_and_arguments_are_the_argv(agent, running):
    config, _ = running
    command = CommandInfo(shell=False, value="test", arguments=["a", "=", "a"])
    assert await agent.plugin.exec_in_container(config.container_id, command, LIMIT) == 0
    command.arguments = ["a", "=", "b"]
    assert await agent.plugin.exec_in_container(config.container_id, command, LIMIT) == 1 << 8


async def test_the_command_environment_and_the_task_environment_reach_it(agent, running):
    config, _ = running
    secret = EnvironmentVariable(
        name="TOKEN",
        type=VariableType.SECRET,
        secret=Secret(type=SecretType.VALUE, value=SecretValue(data=b"s3cret")),
    )
    command = shell(
        'echo "$GREETING $TOKEN" > "$MESOS_SANDBOX/env"; test "$GREETING" = hello',
        GREETING="hello",
    )
    assert command.environment is not None
    command.environment.variables.append(secret)
    assert await agent.plugin.exec_in_container(config.container_id, command, LIMIT) == 0
    assert (config.sandbox / "env").read_text() == "hello s3cret\n"


async def test_past_the_time_limit_the_command_and_its_children_are_killed(
    agent, running, docker_api
):
    config, docker_id = running
    status = await agent.plugin.exec_in_container(
        config.container_id, shell(TREE), timedelta(milliseconds=500)
    )
    assert status == signal.SIGKILL
    assert (config.sandbox / "ready").exists()
    left = processes(docker_api, docker_id)
    assert "sleep 1001" not in left
    assert "sleep 1002" not in left
    assert "sleep 2000" in left  # the task itself runs on


async def test_a_caller_giving_up_first_still_gets_the_command_killed(agent, running, docker_api):
    config, docker_id = running
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            agent.plugin.exec_in_container(config.container_id, shell(TREE), LIMIT), 0.5
        )
    await until((config.sandbox / "ready").exists)
    await until(lambda: "sleep 100" not in processes(docker_api, docker_id))


async def test_a_command_the_engine_refuses_gives_none(agent, running):
    config, _ = running
    empty = CommandInfo(shell=False)  # no value, no arguments: nothing to run
    assert await agent.plugin.exec_in_container(config.container_id, empty, LIMIT) is None


async def test_unknown_and_ended_containers_give_none(agent, busybox_image, tmp_path):
    unknown = ContainerID(value=str(uuid.uuid4()))
    assert await agent.plugin.exec_in_container(unknown, shell("true"), LIMIT) is None
    config = task_config(tmp_path, busybox_image, "true")
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    await agent.plugin.wait(config.container_id)
    assert await agent.plugin.exec_in_container(config.container_id, shell("true"), LIMIT) is None
