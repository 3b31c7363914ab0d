"""At most MAX_LAUNCHING tasks are being launched at once: a launch beyond waits for a
slot before anything is recorded, and every launch that ends or fails gives its slot back.

Without the bound, a client flooding LAUNCH_TASK piled thousands of accepted tasks
in the agent's memory while the containerizer worked through them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dockyard.agent import Agent, TaskConflictError
from dockyard.launch_slots import MAX_LAUNCHING
from dockyard.ledger import TaskRecord
from dockyard.messages import (
    CommandInfo,
    MessageError,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from dockyard.testing import AgentDriver

from .scripted import ScriptedContainerizer


def a_task(task_id: str, command: str = "true") -> TaskInfo:
    return TaskInfo(name="test", task_id=TaskID(value=task_id), command=CommandInfo(value=command))


def accepted(agent: Agent) -> set[str]:
    """Task ids the agent holds, also those whose launch is not yet durable."""
    return {record.task.task_id.value for record in agent.ledger.accepted()}


async def let_run(agent: Agent) -> None:
    """Give pending launches every chance to reach the ledger and be written."""
    for _ in range(3):
        await asyncio.sleep(0)
    await agent.ledger.settled()


@pytest.fixture
async def blocked(tmp_path: Path) -> AsyncIterator[tuple[Agent, ScriptedContainerizer]]:
    """An agent whose containerizer never finishes preparing: launches stay launching."""
    plugin = ScriptedContainerizer(block_prepare=True)
    driver = AgentDriver(tmp_path / "work", {"a": plugin})
    await driver.start()
    yield driver.agent, plugin
    await driver.stop()


async def test_a_launch_beyond_the_bound_waits_for_a_slot_before_it_is_recorded(
    blocked: tuple[Agent, ScriptedContainerizer],
) -> None:
    agent, _ = blocked
    for n in range(MAX_LAUNCHING):
        await agent.launch_task(a_task(f"t{n}"))
    waiting = asyncio.create_task(agent.launch_task(a_task("one-more")))
    await let_run(agent)
    assert not waiting.done()
    assert "one-more" not in accepted(agent), "nothing recorded while it waits"

    await agent.kill_task(TaskID(value="t0"))  # its launch ends: TASK_KILLED
    record = await waiting
    assert record.task.task_id.value == "one-more"
    assert agent.find_task(TaskID(value="t0")).state is TaskState.TASK_KILLED


async def test_refused_launches_give_their_slot_back(
    blocked: tuple[Agent, ScriptedContainerizer],
) -> None:
    agent, _ = blocked
    for n in range(MAX_LAUNCHING - 1):
        await agent.launch_task(a_task(f"t{n}"))
    for _ in range(3):  # each takes the last slot, then is refused
        with pytest.raises(TaskConflictError):
            await agent.launch_task(a_task("t0"))
        with pytest.raises(MessageError):
            await agent.launch_task(TaskInfo(name="no command", task_id=TaskID(value="x")))
    last = asyncio.create_task(agent.launch_task(a_task("last")))
    over = asyncio.create_task(agent.launch_task(a_task("over")))
    await let_run(agent)
    assert last.done(), "the last slot is still free"
    assert (await last).task.task_id.value == "last"
    assert not over.done()
    assert "over" not in accepted(agent)
    over.cancel()


async def test_tasks_that_run_give_their_slot_back(tmp_path: Path) -> None:
    plugin = ScriptedContainerizer()
    driver = AgentDriver(tmp_path / "work", {"a": plugin})
    await driver.start()
    agent = driver.agent
    try:
        for n in range(MAX_LAUNCHING):
            await agent.launch_task(a_task(f"t{n}"))
        for n in range(MAX_LAUNCHING):  # running, not ended
            await wait_for_state(agent, f"t{n}", TaskState.TASK_RUNNING)
        more = [
            asyncio.create_task(agent.launch_task(a_task(f"more{n}"))) for n in range(MAX_LAUNCHING)
        ]
        await let_run(agent)
        waiting = [launch for launch in more if not launch.done()]
        for launch in waiting:
            launch.cancel()
        assert not waiting, "every slot is free again"
    finally:
        await driver.stop()


async def wait_for_state(agent: Agent, task_id: str, state: TaskState) -> None:
    reached = asyncio.Event()

    def listener(record: TaskRecord, status: TaskStatus) -> None:
        if record.task.task_id.value == task_id and status.state is state:
            reached.set()

    unsubscribe = agent.subscribe(listener)
    if agent.find_task(TaskID(value=task_id)).state is not state:
        await reached.wait()
    unsubscribe()
