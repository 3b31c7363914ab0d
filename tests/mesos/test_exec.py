"""exec_in_container: a command run as the task runs (COMMAND health checks)."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

import pytest
from dockyard.containers import LaunchError, RecoveredContainer
from dockyard.messages import CommandInfo, ContainerID, Environment, EnvironmentVariable

from tests.mesos.harness import gone, launch, read_pid, shell, until

RUNNING = "echo > ready; exec sleep 600"
PLENTY = timedelta(seconds=30)


@pytest.fixture
async def running(mesos, work_dir):
    """A running task with its own environment variable, and its config."""
    task = CommandInfo(
        value=RUNNING,
        environment=Environment(
            variables=[
                EnvironmentVariable(name="FROM_TASK", value="task"),
                EnvironmentVariable(name="SHARED", value="task"),
            ]
        ),
    )
    config, _ = await launch(mesos, work_dir, "checked", task, environment={"FROM_AGENT": "yes"})
    await until((config.sandbox / "ready").exists)
    return config


async def test_exit_zero(mesos, running):
    assert await mesos.exec_in_container(running.container_id, shell("true"), PLENTY) == 0


async def test_a_non_zero_exit_is_the_raw_wait_status(mesos, running):
    status = await mesos.exec_in_container(running.container_id, shell("exit 3"), PLENTY)
    assert status is not None
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 3


async def test_shell_false_runs_value_with_arguments_as_argv(mesos, running):
    command = CommandInfo(shell=False, value="sh", arguments=["sh", "-c", "exit $#", "x", "y"])
    status = await mesos.exec_in_container(running.container_id, command, PLENTY)
    assert status is not None
    assert os.WEXITSTATUS(status) == 1


async def test_the_command_sees_the_task_environment_sandbox_and_stderr(mesos, running):
    script = (
        "pwd > where; echo $MESOS_SANDBOX,$MESOS_TASK_ID,$FROM_AGENT,$FROM_TASK,$SHARED,"
        "$FROM_CHECK > env; echo to-stdout; echo to-stderr >&2"
    )
    command = shell(script)
    command.environment = Environment(
        variables=[
            EnvironmentVariable(name="SHARED", value="check"),
            EnvironmentVariable(name="FROM_CHECK", value="check"),
        ]
    )
    assert await mesos.exec_in_container(running.container_id, command, PLENTY) == 0
    sandbox = running.sandbox
    assert (sandbox / "where").read_text() == f"{sandbox}\n"
    assert (sandbox / "env").read_text() == f"{sandbox},,yes,task,check,check\n"
    assert (sandbox / "stderr").read_text() == "to-stdout\nto-stderr\n"  # as Mesos's checks
    assert (sandbox / "stdout").read_text() == ""


async def test_the_time_limit_kills_the_whole_process_group(mesos, running):
    script = "sleep 600 & echo $! > child; echo $$ > shell; wait"
    status = await mesos.exec_in_container(
        running.container_id, shell(script), timedelta(milliseconds=300)
    )
    assert status is not None
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    await until(lambda: gone(read_pid(running.sandbox / "child")))
    assert gone(read_pid(running.sandbox / "shell"))
    assert await mesos.exec_in_container(running.container_id, shell("true"), PLENTY) == 0


async def test_background_processes_die_with_the_command(mesos, running):
    script = "sleep 600 & echo $! > child"
    assert await mesos.exec_in_container(running.container_id, shell(script), PLENTY) == 0
    await until(lambda: gone(read_pid(running.sandbox / "child")))


async def start_long_exec(mesos, running) -> asyncio.Task[int | None]:
    """A command that runs until killed, once its shell wrote its pid to ``shell``."""
    script = "echo $$ > shell; exec sleep 600"
    checking = asyncio.create_task(
        mesos.exec_in_container(running.container_id, shell(script), PLENTY)
    )
    await until((running.sandbox / "shell").exists)
    return checking


async def test_a_cancelled_exec_kills_the_command(mesos, running):
    checking = await start_long_exec(mesos, running)
    checking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await checking
    await until(lambda: gone(read_pid(running.sandbox / "shell")))


async def test_the_command_dies_with_its_task(mesos, running):
    checking = await start_long_exec(mesos, running)
    await mesos.destroy(running.container_id, timedelta(0))
    status = await checking
    assert status is not None
    assert os.WTERMSIG(status) == signal.SIGTERM  # a kill signals every process of the task


async def test_unknown_or_ended_containers_give_none(mesos, work_dir):
    unknown = ContainerID(value="no-such-container")
    assert await mesos.exec_in_container(unknown, shell("true"), PLENTY) is None
    config, _ = await launch(mesos, work_dir, "short", shell("true"))
    await mesos.wait(config.container_id)
    assert await mesos.exec_in_container(config.container_id, shell("true"), PLENTY) is None


async def test_a_command_without_value_is_refused(mesos, running):
    with pytest.raises(LaunchError):
        await mesos.exec_in_container(running.container_id, CommandInfo(), PLENTY)


async def test_exec_works_in_a_container_recovered_by_a_new_instance(start_containerizer, work_dir):
    first = await start_containerizer()
    task = CommandInfo(
        value=RUNNING,
        environment=Environment(variables=[EnvironmentVariable(name="FROM_TASK", value="kept")]),
    )
    config, launched = await launch(first, work_dir, "recovered", task)
    await until((config.sandbox / "ready").exists)
    await first.stop()

    second = await start_containerizer()
    await second.recover([RecoveredContainer(config=config, handle=launched.handle)])
    command = shell('test "$FROM_TASK" = kept')
    assert await second.exec_in_container(config.container_id, command, PLENTY) == 0
    await second.destroy(config.container_id, timedelta(0))
