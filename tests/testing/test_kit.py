"""The ``dockyard.testing`` pytest plugin: its fixtures, driver, recorder and results."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta

import pytest
from dockyard import hookimpl
from dockyard.containers import ContainerConfig
from dockyard.messages import LaunchContainer, Reason, TaskInfo, TaskState, load
from dockyard.testing import (
    AgentDriver,
    HookRecorder,
    PluginRegistrationError,
    as_json,
    launch_container,
    make_host,
    task_info,
)
from dockyard.validation import validate_launch_container, validate_task

from tests.testing.backends import ReferenceContainerizer
from tests.testing.inner import QUIET

pytest_plugins = ["pytester", "dockyard.testing"]


@pytest.fixture
def dockyard_containerizers() -> Mapping[str, object]:
    return {"reference": ReferenceContainerizer()}


@pytest.fixture
def dockyard_timeout() -> float:
    return 10.0


# -- factories ---------------------------------------------------------------------------


def test_task_factory_makes_valid_tasks() -> None:
    task = task_info(
        "echo hi",
        task_id="t1",
        environment={"A": "1"},
        grace_period=timedelta(seconds=2),
        labels={"k": "v"},
    )
    validate_task(task)
    assert task.kill_policy is not None
    assert task.kill_policy.grace_period is not None
    assert task.kill_policy.grace_period.nanoseconds == 2_000_000_000
    assert load(TaskInfo, as_json(task)) == task


def test_launch_container_factory_is_valid() -> None:
    launch = launch_container("sleep 1", container_id="c1")
    validate_launch_container(launch)
    assert load(LaunchContainer, as_json(launch)) == launch


def test_make_container_config_uses_the_sandbox(
    make_container_config: Callable[..., ContainerConfig], dockyard_sandbox: object
) -> None:
    config = make_container_config("true", environment={"MESOS_TASK_ID": "t"})
    assert config.sandbox == dockyard_sandbox
    assert config.environment == {"MESOS_TASK_ID": "t"}


# -- host and recorder ---------------------------------------------------------------------


class Misspelled:
    @hookimpl
    def lanuch(self, config: ContainerConfig) -> None:
        """A typo: no such hook."""


def test_make_host_refuses_a_misspelled_hook() -> None:
    with pytest.raises(PluginRegistrationError, match="lanuch"):
        make_host({"typo": Misspelled()})


async def test_recorder_sees_the_hooks_of_a_task(
    dockyard_agent: AgentDriver, dockyard_recorder: HookRecorder, make_task: Callable[..., TaskInfo]
) -> None:
    (await dockyard_agent.run(make_task("true"))).assert_finished()
    hooks = dockyard_recorder.hooks(plugin="reference")
    assert hooks[:2] == ["start", "recover"]  # recover: even with nothing to recover
    assert [hook for hook in hooks if hook in ("supports", "launch", "wait")] == [
        "supports",
        "launch",
        "wait",
    ]
    (call,) = dockyard_recorder.assert_called("launch", times=1)
    assert call.kwargs["config"].command.value == "true"
    with pytest.raises(AssertionError, match="never called"):
        dockyard_recorder.assert_called("destroy")


# -- driver and results --------------------------------------------------------------------


async def test_result_assertions_explain_the_task(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    result = await dockyard_agent.run(make_task("echo out; echo err >&2; exit 3"))
    result.assert_failed(message="Container exited with status 3").assert_exit_code(3)
    result.assert_failed(message=re.compile("status 3"))
    with pytest.raises(AssertionError) as raised:
        result.assert_finished()
    text = str(raised.value)
    assert "expected TASK_FINISHED, got TASK_FAILED" in text
    assert "TASK_STAGING -> TASK_STARTING -> TASK_RUNNING -> TASK_FAILED" in text
    assert "out" in text
    assert "err" in text
    with pytest.raises(AssertionError, match="expected reason REASON_CONTAINER_LAUNCH_FAILED"):
        result.assert_failed(reason=Reason.REASON_CONTAINER_LAUNCH_FAILED)


async def test_waits_fail_with_the_task_state_instead_of_hanging(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    record = await dockyard_agent.launch(make_task("sleep 60"))
    await dockyard_agent.wait_for_state(record, TaskState.TASK_RUNNING)
    with pytest.raises(AssertionError, match=r"did not reach .*TASK_FINISHED.* within 0\.2s"):
        await dockyard_agent.wait_for_state(record, TaskState.TASK_FINISHED, within=0.2)
    with pytest.raises(AssertionError, match="nothing did not appear"):
        await dockyard_agent.wait_for_file(record, "nothing", within=0.2)


async def test_kill_with_a_grace_period(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    record = await dockyard_agent.launch(make_task("sleep 60"))
    await dockyard_agent.wait_for_state(record, TaskState.TASK_RUNNING)
    await dockyard_agent.kill(record, grace_period=timedelta(seconds=5))
    (await dockyard_agent.result(record)).assert_killed()


async def test_a_task_ending_early_fails_a_wait_for_a_later_state(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    record = await dockyard_agent.launch(make_task("exit 1"))
    with pytest.raises(AssertionError, match="task ended before reaching"):
        await dockyard_agent.wait_for_state(record, TaskState.TASK_KILLED)


# -- opt-in --------------------------------------------------------------------------------

USES_THE_KIT = """
import pytest
from tests.testing.backends import ReferenceContainerizer

@pytest.fixture
def dockyard_containerizers():
    return {"reference": ReferenceContainerizer()}

@pytest.mark.asyncio
async def test_runs(dockyard_agent, make_task):
    (await dockyard_agent.run(make_task("true"))).assert_finished()
"""


def test_the_plugin_is_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_kit=USES_THE_KIT)
    pytester.runpytest(*QUIET).assert_outcomes(errors=1)
    pytester.runpytest(*QUIET, "-p", "dockyard.testing").assert_outcomes(passed=1)


def test_the_plugin_loads_from_a_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["dockyard.testing"]')
    pytester.makepyfile(test_kit=USES_THE_KIT)
    pytester.runpytest(*QUIET).assert_outcomes(passed=1)


def test_forgetting_the_containerizers_says_what_to_define(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_kit="""
        import pytest

        @pytest.mark.asyncio
        async def test_runs(dockyard_agent):
            pass
        """
    )
    result = pytester.runpytest(*QUIET, "-p", "dockyard.testing")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `dockyard_containerizers` fixture*"])
