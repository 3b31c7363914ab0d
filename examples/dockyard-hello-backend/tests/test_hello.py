"""What is special about the hello backend: its label rule and its greeting."""

from collections.abc import Callable, Mapping, Sequence

import pytest
from dockyard.messages import TaskInfo
from dockyard.testing import AgentDriver, HookRecorder
from dockyard_hello.plugin import HelloContainerizer

HELLO = {"dockyard.backend": "hello"}


@pytest.fixture
def dockyard_containerizers() -> Mapping[str, object]:
    return {"hello": HelloContainerizer()}


@pytest.fixture
def dockyard_flags() -> Sequence[str]:
    return ["--hello_greeting=Hi there"]


async def test_greets_then_runs_the_task(
    dockyard_agent: AgentDriver, make_task: Callable[..., TaskInfo]
) -> None:
    result = await dockyard_agent.run(make_task("echo from the task", labels=HELLO))
    result.assert_finished(message="Container exited with status 0")
    assert result.stdout == "Hi there\nfrom the task\n"


async def test_refuses_unlabelled_tasks(
    dockyard_agent: AgentDriver, dockyard_recorder: HookRecorder, make_task: Callable[..., TaskInfo]
) -> None:
    result = await dockyard_agent.run(make_task("echo never runs"))
    result.assert_failed(
        message="Failed to launch container: None of the enabled "
        "containerizers (hello) could create a container for the provided ContainerInfo "
        "(hello: runs only tasks labelled dockyard.backend=hello)"
    )
    dockyard_recorder.assert_called("launch", times=0)
