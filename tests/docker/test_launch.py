"""Launching DOCKER tasks on the real Engine: output, environment, command rules, exits."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from docker import APIClient
from dockyard.containers import ContainerConfig, LaunchError, Termination
from dockyard.messages import (
    ContainerType,
    EnvironmentVariable,
    Secret,
    SecretType,
    SecretValue,
    TaskState,
    VariableType,
)
from dockyard_docker import naming
from dockyard_docker.plugin import DockerContainerizer

from tests.docker.configs import task_config


async def run(plugin: DockerContainerizer, config: ContainerConfig) -> Termination:
    await plugin.prepare(config)
    await plugin.launch(config)
    termination = await plugin.wait(config.container_id)
    assert termination is not None
    return termination


def test_supports_only_docker_with_an_image(tmp_path: Path) -> None:
    plugin = DockerContainerizer()
    config = task_config(tmp_path, "img", "true")
    assert plugin.supports(config).accepted
    assert config.container_info is not None
    assert config.container_info.docker is not None
    config.container_info.docker.image = ""
    assert not plugin.supports(config).accepted
    config.container_info.type = ContainerType.MESOS
    assert "MESOS" in plugin.supports(config).reason
    config.container_info = None
    assert not plugin.supports(config).accepted


async def test_stdout_and_stderr_reach_their_sandbox_files(agent, busybox_image, tmp_path):
    config = task_config(tmp_path / "s", busybox_image, "echo out; echo err >&2; echo out2")
    termination = await run(agent.plugin, config)
    assert termination.state == TaskState.TASK_FINISHED
    assert termination.message == "Container exited with status 0"
    assert (config.sandbox / "stdout").read_text() == "out\nout2\n"
    assert (config.sandbox / "stderr").read_text() == "err\n"


async def test_exit_code_fails_the_task_with_the_status(agent, busybox_image, tmp_path):
    termination = await run(agent.plugin, task_config(tmp_path, busybox_image, "exit 3"))
    assert termination.state == TaskState.TASK_FAILED
    assert termination.message == "Container exited with status 3"
    assert termination.status == 3 << 8


async def test_sandbox_is_mapped_both_ways(agent, busybox_image, tmp_path):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "input").write_text("from host\n")
    config = task_config(
        sandbox,
        busybox_image,
        'cat "$MESOS_SANDBOX/input"; echo from container > "$MESOS_SANDBOX/output"; '
        'echo "$MESOS_SANDBOX"',
    )
    assert (await run(agent.plugin, config)).state == TaskState.TASK_FINISHED
    assert (sandbox / "stdout").read_text() == "from host\n/mnt/mesos/sandbox\n"
    assert (sandbox / "output").read_text() == "from container\n"


async def test_environment_has_task_variables_secrets_and_mesos_names(
    agent, busybox_image, tmp_path
):
    secret = EnvironmentVariable(
        name="PASSWORD",
        type=VariableType.SECRET,
        secret=Secret(type=SecretType.VALUE, value=SecretValue(data=b"hunter2")),
    )
    config = task_config(
        tmp_path, busybox_image, "env", env={"GREETING": "hello"}, variables=[secret]
    )
    await agent.plugin.prepare(config)
    launched = await agent.plugin.launch(config)
    await agent.plugin.wait(config.container_id)
    env = dict(line.split("=", 1) for line in (tmp_path / "stdout").read_text().splitlines())
    assert env["GREETING"] == "hello"
    assert env["PASSWORD"] == "hunter2"
    assert env["MESOS_SANDBOX"] == "/mnt/mesos/sandbox"
    assert env["MESOS_CONTAINER_NAME"] == naming.container_name(
        agent.agent_id, config.container_id.value
    )
    assert launched.data is not None
    assert b"hunter2" not in launched.data
    assert "hunter2" not in json.dumps(launched.handle)


async def test_launched_carries_inspect_data_name_and_labels(
    agent, busybox_image, tmp_path, docker_api: APIClient
):
    config = task_config(tmp_path, busybox_image, "true")
    await agent.plugin.prepare(config)
    launched = await agent.plugin.launch(config)
    await agent.plugin.wait(config.container_id)
    (inspect,) = json.loads(launched.data or b"")
    assert inspect["Name"] == "/" + naming.container_name(agent.agent_id, config.container_id.value)
    labels = docker_api.inspect_container(launched.handle["docker_id"])["Config"]["Labels"]
    assert labels[naming.AGENT_LABEL] == agent.agent_id
    assert labels[naming.CONTAINER_LABEL] == config.container_id.value
    assert config.task_info is not None
    assert labels[naming.TASK_LABEL] == config.task_info.task_id.value


@pytest.mark.parametrize(
    ("shell", "value", "arguments", "expected"),
    [
        (False, None, [], "inky\n"),  # the image's CMD
        (False, "X", [], "X\n"),  # value replaces CMD, ENTRYPOINT stays
        (False, None, ["X", "Y"], "X Y\n"),
        (True, "echo shell; echo $((1+2))", [], "shell\n3\n"),  # ENTRYPOINT overridden
    ],
)
async def test_command_rules(agent, echo_image, tmp_path, shell, value, arguments, expected):
    config = task_config(tmp_path, echo_image, value, shell=shell, arguments=arguments)
    assert (await run(agent.plugin, config)).state == TaskState.TASK_FINISHED
    assert (tmp_path / "stdout").read_text() == expected


async def test_shell_without_a_value_is_a_launch_error(agent, busybox_image, tmp_path):
    config = task_config(tmp_path, busybox_image, None, shell=True)
    await agent.plugin.prepare(config)
    with pytest.raises(LaunchError, match="Shell specified but no command value provided"):
        await agent.plugin.launch(config)
    assert await agent.plugin.destroy(config.container_id, None) == Termination()


async def test_missing_executable_fails_the_launch(agent, busybox_image, tmp_path):
    config = task_config(tmp_path, busybox_image, "/no/such/binary", shell=False)
    await agent.plugin.prepare(config)
    with pytest.raises(LaunchError, match="Failed to start container"):
        await agent.plugin.launch(config)


async def test_second_launch_of_one_container_id_is_refused(agent, busybox_image, tmp_path):
    config = task_config(tmp_path, busybox_image, "true")
    await run(agent.plugin, config)
    with pytest.raises(LaunchError, match="already started"):
        await agent.plugin.prepare(config)


async def test_unknown_containers_are_none(agent, tmp_path):
    config = task_config(tmp_path, "img", "true")
    assert await agent.plugin.wait(config.container_id) is None
    assert await agent.plugin.destroy(config.container_id, None) is None
    assert await agent.plugin.kill(config.container_id, 15) is False
    assert await agent.plugin.usage(config.container_id) is None


async def test_one_events_watcher_for_many_containers(agent, busybox_image, tmp_path):
    configs = [task_config(tmp_path / str(i), busybox_image, "true") for i in range(5)]
    for config in configs:
        await agent.plugin.prepare(config)
        await agent.plugin.launch(config)
    watchers = [t for t in asyncio.all_tasks() if t.get_name() == "docker-events"]
    assert len(watchers) == 1, "one coroutine for every container"
    assert not [t for t in threading.enumerate() if "events" in t.name], "and no thread"
    for config in configs:
        assert (await agent.plugin.wait(config.container_id)).state == TaskState.TASK_FINISHED


async def test_standalone_container_without_a_task(agent, busybox_image, tmp_path):
    """LAUNCH_CONTAINER: no TaskInfo, the agent's variables reach the container."""
    config = task_config(tmp_path, busybox_image, 'echo "$MESOS_DIRECTORY"')
    config.task_info = None
    config.environment = {"MESOS_DIRECTORY": str(tmp_path)}
    assert (await run(agent.plugin, config)).state == TaskState.TASK_FINISHED
    assert (tmp_path / "stdout").read_text() == f"{tmp_path}\n"


async def test_no_daemon_is_a_startup_error_naming_the_socket(tmp_path):
    from dockyard.containers import AgentContext, StartupError
    from dockyard.flags import FlagSet

    plugin = DockerContainerizer()
    flags = FlagSet()
    plugin.add_flags(flags)
    socket = tmp_path / "no-docker.sock"
    context = AgentContext(
        flags=flags.parse([f"--docker_socket={socket}"], {}),
        agent_id="a",
        work_dir=tmp_path,
        state_dir=tmp_path / "state",
    )
    with pytest.raises(StartupError, match=f"unix://{socket}") as failure:
        await plugin.start(context)
    assert "--containerizers=mesos" in str(failure.value)


def test_nested_containers_are_refused(tmp_path: Path) -> None:
    from dockyard.messages import ContainerID

    config = task_config(tmp_path, "img", "true")
    config.container_id = ContainerID(value="child", parent=config.container_id)
    assert "nested" in DockerContainerizer().supports(config).reason
