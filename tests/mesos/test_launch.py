"""Launching tasks: command semantics, exit reporting, environment, bad inputs."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from dockyard.containers import LaunchError, Termination
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    ContainerInfo,
    ContainerType,
    Environment,
    EnvironmentVariable,
    Image,
    ImageType,
    MesosInfo,
    Secret,
    SecretReference,
    SecretType,
    SecretValue,
    TaskID,
    TaskInfo,
    TaskState,
    VariableType,
)
from dockyard_mesos import plugin as plugin_module
from dockyard_mesos.plugin import MesosContainerizer

from tests.mesos.harness import launch, make_config, shell


async def run(
    mesos: MesosContainerizer, work_dir: Path, name: str, command: CommandInfo, **extra: Any
) -> tuple[Termination, Path]:
    """Launch a container and wait for its end."""
    config, _ = await launch(mesos, work_dir, name, command, **extra)
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    return termination, config.sandbox


async def test_exit_zero_is_left_to_the_core_as_finished(mesos, work_dir):
    termination, _ = await run(mesos, work_dir, "ok", shell("exit 0"))
    assert termination.status == 0
    assert termination.state is None
    assert termination.message == "Command exited with status 0"


async def test_non_zero_exit_keeps_the_raw_wait_status(mesos, work_dir):
    termination, _ = await run(mesos, work_dir, "three", shell("exit 3"))
    assert termination.status is not None
    assert os.WIFEXITED(termination.status)
    assert os.WEXITSTATUS(termination.status) == 3
    assert termination.message == "Command exited with status 3"


async def test_death_by_signal_names_the_signal(mesos, work_dir):
    termination, _ = await run(mesos, work_dir, "killed", shell("kill -USR1 $$"))
    assert termination.status is not None
    assert os.WIFSIGNALED(termination.status)
    assert os.WTERMSIG(termination.status) == signal.SIGUSR1
    assert termination.message == "Command terminated with signal User defined signal 1"


async def test_shell_false_passes_arguments_as_the_whole_argv(mesos, work_dir):
    command = CommandInfo(
        shell=False, value="/bin/sh", arguments=["my-argv0", "-c", 'echo "$0" > argv0']
    )
    _, sandbox = await run(mesos, work_dir, "argv", command)
    assert (sandbox / "argv0").read_text() == "my-argv0\n"


async def test_shell_false_finds_the_executable_on_path(mesos, work_dir):
    command = CommandInfo(shell=False, value="printf", arguments=["printf", "%s|", "a b", "c"])
    _, sandbox = await run(mesos, work_dir, "printf", command)
    assert (sandbox / "stdout").read_text() == "a b|c|"


async def test_shell_runs_the_value_with_arguments_ignored(mesos, work_dir):
    command = CommandInfo(shell=True, value="echo $0 >&2", arguments=["ignored"])
    _, sandbox = await run(mesos, work_dir, "shell", command)
    assert (sandbox / "stderr").read_text() == "/bin/sh\n"


async def test_task_runs_in_its_sandbox_with_stdin_closed_and_output_appended(mesos, work_dir):
    config = make_config(work_dir, "io", shell("pwd; cat; echo err >&2"))
    (config.sandbox / "stdout").write_text("before\n")
    await mesos.prepare(config)
    await mesos.launch(config)
    await mesos.wait(config.container_id)
    assert (config.sandbox / "stdout").read_text() == f"before\n{config.sandbox}\n"
    assert (config.sandbox / "stderr").read_text() == "err\n"


async def test_task_leads_its_own_session(mesos, work_dir):
    _, sandbox = await run(
        mesos, work_dir, "session", shell("ps -o sid= -o pgid= -p $$ > ids; echo $$ > pid")
    )
    pid = (sandbox / "pid").read_text().strip()
    assert (sandbox / "ids").read_text().split() == [pid, pid]


async def test_environment_merges_agent_task_and_secret_variables(mesos, work_dir):
    variables = [
        EnvironmentVariable(name="PLAIN", value="one two"),
        EnvironmentVariable(name="AGENT_VAR", value="task wins"),
        EnvironmentVariable(
            name="TOKEN",
            type=VariableType.SECRET,
            secret=Secret(type=SecretType.VALUE, value=SecretValue(data=b"s3cret")),
        ),
    ]
    command = CommandInfo(value="env > env.txt", environment=Environment(variables=variables))
    task = TaskInfo(name="t", task_id=TaskID(value="task-1"), agent_id=None)
    _, sandbox = await run(
        mesos,
        work_dir,
        "env",
        command,
        environment={"AGENT_VAR": "agent", "MESOS_AGENT_ENDPOINT": "127.0.0.1:5051"},
        task_info=task,
    )
    env = dict(line.split("=", 1) for line in (sandbox / "env.txt").read_text().splitlines())
    assert env["PLAIN"] == "one two"
    assert env["AGENT_VAR"] == "task wins"
    assert env["TOKEN"] == "s3cret"
    assert env["MESOS_SANDBOX"] == env["MESOS_DIRECTORY"] == str(sandbox)
    assert env["MESOS_TASK_ID"] == "task-1"
    assert env["MESOS_AGENT_ENDPOINT"] == "127.0.0.1:5051"
    assert "/usr/bin" in env["PATH"]


async def test_secret_reference_without_value_fails_the_launch(mesos, work_dir):
    secret = Secret(type=SecretType.REFERENCE, reference=SecretReference(name="vault/x"))
    variable = EnvironmentVariable(name="TOKEN", type=VariableType.SECRET, secret=secret)
    config = make_config(
        work_dir,
        "secret-ref",
        CommandInfo(value="true", environment=Environment(variables=[variable])),
    )
    await mesos.prepare(config)
    with pytest.raises(LaunchError, match="TOKEN"):
        await mesos.launch(config)


async def test_missing_executable_fails_the_launch_and_wait_reports_it(mesos, work_dir):
    config = make_config(work_dir, "missing", CommandInfo(shell=False, value="no-such-binary-here"))
    await mesos.prepare(config)
    with pytest.raises(LaunchError, match="Failed to execute 'no-such-binary-here'"):
        await mesos.launch(config)
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.state is TaskState.TASK_FAILED


async def test_command_without_value_fails_the_launch(mesos, work_dir):
    config = make_config(work_dir, "novalue", CommandInfo(shell=True))
    await mesos.prepare(config)
    with pytest.raises(LaunchError, match="no value"):
        await mesos.launch(config)


async def test_unknown_user_fails_the_launch_naming_the_user(mesos, work_dir):
    config = make_config(work_dir, "nouser", shell("true"), user="no-such-user-x")
    await mesos.prepare(config)
    with pytest.raises(LaunchError, match="no-such-user-x"):
        await mesos.launch(config)


async def test_same_container_twice_is_refused(mesos, work_dir):
    config = make_config(work_dir, "twice", shell("true"))
    await mesos.prepare(config)
    with pytest.raises(LaunchError, match="already exists"):
        await mesos.prepare(config)


async def test_unknown_containers_are_none_or_false(mesos):
    unknown = ContainerID(value="nobody")
    assert await mesos.wait(unknown) is None
    assert await mesos.destroy(unknown, None) is None
    assert await mesos.kill(unknown, signal.SIGTERM) is False
    assert await mesos.usage(unknown) is None


def test_supports_mesos_containers_without_images(work_dir):
    mesos = MesosContainerizer()
    command = shell("true")
    assert mesos.supports(make_config(work_dir, "a", command)).accepted
    plain = ContainerInfo(type=ContainerType.MESOS)
    assert mesos.supports(make_config(work_dir, "b", command, container_info=plain)).accepted
    image = ContainerInfo(
        type=ContainerType.MESOS, mesos=MesosInfo(image=Image(type=ImageType.DOCKER))
    )
    refusal = mesos.supports(make_config(work_dir, "c", command, container_info=image))
    assert not refusal.accepted
    assert "image" in refusal.reason
    docker = ContainerInfo(type=ContainerType.DOCKER)
    refusal = mesos.supports(make_config(work_dir, "d", command, container_info=docker))
    assert not refusal.accepted
    assert "DOCKER" in refusal.reason


async def test_wait_is_reentrant_and_works_after_the_end(mesos, work_dir):
    config = make_config(work_dir, "waits", shell("exit 4"))
    await mesos.prepare(config)
    await mesos.launch(config)
    first, second = await asyncio.gather(
        mesos.wait(config.container_id), mesos.wait(config.container_id)
    )
    third = await mesos.wait(config.container_id)
    assert first == second == third
    assert first is not None
    assert first.message == "Command exited with status 4"


async def test_ended_containers_are_kept_only_up_to_a_bound(mesos, work_dir, monkeypatch):
    """An agent runs tasks for months: the plugin keeps the ends of the latest few only."""
    monkeypatch.setattr(plugin_module, "ENDED_KEPT", 2)
    ids = []
    for number in range(4):
        await run(mesos, work_dir, f"ended-{number}", shell(f"exit {number}"))
        ids.append(ContainerID(value=f"ended-{number}"))
    assert await mesos.wait(ids[0]) is None
    assert await mesos.destroy(ids[1], None) is None
    kept = [await mesos.wait(ids[2]), await mesos.destroy(ids[3], None)]
    assert [kept_one and kept_one.message for kept_one in kept] == [
        "Command exited with status 2",
        "Command exited with status 3",
    ]
    with pytest.raises(LaunchError, match="already"):  # a kept end still blocks its id
        await mesos.launch(make_config(work_dir, "ended-3", shell("true")))


async def test_nested_containers_run_like_top_level_ones(mesos, work_dir):
    nested = ContainerID(value="child", parent=ContainerID(value="parent"))
    config = make_config(work_dir, "parent.child", shell("exit 6"))
    config.container_id = nested
    await mesos.prepare(config)
    await mesos.launch(config)
    termination = await mesos.wait(ContainerID(value="child", parent=ContainerID(value="parent")))
    assert termination is not None
    assert termination.message == "Command exited with status 6"
