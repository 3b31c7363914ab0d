"""The kit explains itself: states by name, factories for labels and executors, the
documented ``dockyard_host`` API, and failures that point at the test, not at the kit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from dockyard.containers import ContainerConfig
from dockyard.host import PluginHost
from dockyard.messages import Reason, TaskInfo, TaskState
from dockyard.testing import (
    AgentDriver,
    HookRecorder,
    agent_context,
    docker_container_info,
    executor_info,
    task_info,
)
from dockyard.validation import validate_executor, validate_task
from dockyard_mesos.plugin import MesosContainerizer

from tests.testing.inner import QUIET

pytest_plugins = ["pytester", "dockyard.testing"]

WAIT_FOR_GO = 'until [ -e "$MESOS_SANDBOX/go" ]; do sleep 0.05; done'


@pytest.fixture
def dockyard_containerizers() -> Mapping[str, object]:
    return {"mesos": MesosContainerizer()}


@pytest.fixture
def dockyard_timeout() -> float:
    return 20.0


# -- states and reasons by name --------------------------------------------------------------


async def test_wait_for_state_takes_state_names(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    record = await dockyard_agent.launch(make_task(WAIT_FOR_GO))
    status = await dockyard_agent.wait_for_state(record, "TASK_RUNNING")
    assert status.state is TaskState.TASK_RUNNING
    (record.sandbox / "go").touch()
    status = await dockyard_agent.wait_for_state(record, "TASK_FINISHED", TaskState.TASK_FAILED)
    assert status.state is TaskState.TASK_FINISHED


async def test_an_unknown_state_name_fails_at_once_listing_the_valid_ones(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    record = await dockyard_agent.launch(make_task(WAIT_FOR_GO))
    await dockyard_agent.wait_for_state(record, TaskState.TASK_RUNNING)
    with pytest.raises(ValueError, match="not a TaskState") as raised:
        await dockyard_agent.wait_for_state(record, "TASK_RUNING")
    message = str(raised.value)
    assert "(did you mean TASK_RUNNING?)" in message
    assert "valid names: TASK_STAGING, TASK_STARTING, TASK_RUNNING," in message
    assert not dockyard_agent.task(record).terminal, "it did not wait for the task to end"
    with pytest.raises(ValueError, match="at least one state"):
        await dockyard_agent.wait_for_state(record)


async def test_result_assertions_take_state_and_reason_names(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    refused = make_task("true", container=docker_container_info("busybox"))  # mesos refuses
    result = await dockyard_agent.run(refused)
    result.assert_state("TASK_FAILED", reason="REASON_CONTAINER_LAUNCH_FAILED")
    result.assert_failed(reason="REASON_CONTAINER_LAUNCH_FAILED")
    assert result.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    with pytest.raises(AssertionError, match="expected TASK_KILLED, got TASK_FAILED"):
        result.assert_state("TASK_KILLED")
    with pytest.raises(AssertionError, match="expected reason REASON_TASK_KILLED_DURING_LAUNCH"):
        result.assert_failed(reason="REASON_TASK_KILLED_DURING_LAUNCH")
    with pytest.raises(ValueError, match="'TASK_FAILD' is not a TaskState"):
        result.assert_state("TASK_FAILD")
    with pytest.raises(ValueError, match=r"^'REASON_NOPE' is not a Reason; valid names: REASON_"):
        result.assert_killed(reason="REASON_NOPE")


# -- factories -------------------------------------------------------------------------------


def test_make_container_config_sets_labels_on_its_task(
    make_container_config: Callable[..., ContainerConfig],
) -> None:
    config = make_container_config("true", labels={"isolation": "unshare"})
    assert config.task_info is not None
    validate_task(config.task_info)
    assert config.task_info.command == config.command
    assert config.task_info.labels is not None
    assert [(label.key, label.value) for label in config.task_info.labels.labels] == [
        ("isolation", "unshare")
    ]
    assert make_container_config("true").task_info is None, "no labels, no task"


def test_make_container_config_makes_an_executors_container(
    make_container_config: Callable[..., ContainerConfig],
) -> None:
    executor = executor_info("./my-executor", labels={"team": "a"})
    validate_executor(executor)
    assert executor.command is not None
    config = make_container_config(executor.command, executor_info=executor)
    assert config.executor_info is executor
    assert config.task_info is None
    with pytest.raises(ValueError, match=r"executor_info\(\.\.\., labels=\.\.\.\)"):
        make_container_config("true", labels={"a": "b"}, executor_info=executor)
    task = task_info(executor=executor)
    validate_task(task)
    assert (task.command, task.executor) == (None, executor)


# -- dockyard_host: calling hooks directly ------------------------------------------------


async def test_dockyard_host_calls_one_plugins_hooks(
    dockyard_host: PluginHost,
    dockyard_work_dir: Path,
    make_container_config: Callable[..., ContainerConfig],
) -> None:
    await dockyard_host.start("mesos", agent_context(dockyard_host, "mesos", dockyard_work_dir))
    try:
        config = make_container_config("echo hello")
        assert dockyard_host.supports("mesos", config).accepted
        await dockyard_host.prepare("mesos", config)
        await dockyard_host.launch("mesos", config)
        termination = await dockyard_host.wait("mesos", config.container_id)
        assert termination is not None
        assert termination.status == 0
        assert (config.sandbox / "stdout").read_text() == "hello\n"
        assert await dockyard_host.destroy("mesos", config.container_id, None) is not None
    finally:
        await dockyard_host.stop("mesos")


# -- failures point at the test ----------------------------------------------------------


def test_kit_frames_are_hidden_from_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hidden="""
        import pytest
        from dockyard.testing import HookRecorder
        from dockyard.testing.names import state
        from dockyard_mesos.plugin import MesosContainerizer

        @pytest.fixture
        def dockyard_containerizers():
            return {"mesos": MesosContainerizer()}

        def test_recorder():
            HookRecorder().assert_called("launch")

        def test_state_name():
            state("TASK_RUNING")

        @pytest.mark.asyncio
        async def test_result(dockyard_agent, make_task):
            result = await dockyard_agent.run(make_task("exit 3"))
            result.assert_finished()
        """
    )
    result = pytester.runpytest(*QUIET, "-p", "dockyard.testing", "--tb=long")
    result.assert_outcomes(failed=3)
    output = result.stdout.str()
    assert "hook 'launch' was never called" in output
    assert "did you mean TASK_RUNNING" in output
    assert "expected TASK_FINISHED, got TASK_FAILED" in output
    for module in ("recorder", "names", "results", "driver"):
        assert f"dockyard/testing/{module}.py" not in output


def test_hook_recorder_failures_say_what_was_called() -> None:
    with pytest.raises(AssertionError, match=r"never called; called: \[\]"):
        HookRecorder().assert_called("launch")
