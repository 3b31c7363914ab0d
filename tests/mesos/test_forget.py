"""The ``forget`` hook against the real ``mesos`` containerizer in an in-process agent.

An agent that runs for months must not keep a supervisor record (and a table entry)
for every task it ever ran: once the core has durably recorded a container's end it calls
``forget``, and the record goes; a running container is never forgotten, and a plugin
whose ``forget`` fails does not hurt the agent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dockyard import hookimpl
from dockyard.messages import ContainerID, TaskState
from dockyard.supervision.records import read_records
from dockyard.testing import AgentDriver
from dockyard.testing.factories import launch_container, task_info

pytest.importorskip("dockyard_mesos")

from dockyard_mesos.plugin import MesosContainerizer

from tests.mesos.harness import STATE, clean_up, until

FINISHED_TASKS = 5
WAIT_FOR_GO = 'until [ -e "$MESOS_SANDBOX/go" ]; do sleep 0.05; done'


class ForgetFails(MesosContainerizer):
    """A plugin bug: its ``forget`` raises."""

    @hookimpl
    async def forget(self, container_id: ContainerID) -> None:
        raise RuntimeError(f"cannot forget {container_id.value}")


def records(work_dir: Path) -> set[str]:
    """The ids of the supervisor's task records on disk."""
    return set(read_records(work_dir / STATE))


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
async def no_leftovers(work_dir: Path) -> AsyncIterator[None]:
    """The supervisor outlives the agent by design: stop it, and any task, at the end."""
    yield
    agent_id = work_dir / "meta" / "agent_id"
    clean_up(work_dir, agent_id.read_text().strip() if agent_id.exists() else None)


async def start(work_dir: Path, mesos: MesosContainerizer) -> AgentDriver:
    driver = AgentDriver(work_dir, {"mesos": mesos}, timeout=30)
    await driver.start()
    return driver


def forgotten(driver: AgentDriver) -> list[str]:
    return [call.kwargs["container_id"].value for call in driver.recorder.named("forget")]


async def test_ended_tasks_leave_no_record_and_running_ones_stay(
    work_dir: Path, no_leftovers: None
) -> None:
    mesos = MesosContainerizer()
    driver = await start(work_dir, mesos)
    try:
        running = await driver.launch(task_info(WAIT_FOR_GO))
        await driver.wait_for_state(running, TaskState.TASK_RUNNING)
        ended = []
        for n in range(FINISHED_TASKS):
            result = await driver.run(task_info(f"exit {n % 2}"))
            ended.append(result.record.container_id.value)
        await until(lambda: records(work_dir) == {running.container_id.value})
        await until(lambda: not mesos._ended)
        assert set(mesos._containers) == {running.container_id.value}
        assert sorted(forgotten(driver)) == sorted(ended), "once each, never the running one"

        (driver.task(running).sandbox / "go").touch()
        await driver.result(running)
        await until(lambda: not records(work_dir) and not mesos._ended)
        assert not mesos._containers
        assert sorted(forgotten(driver)) == sorted([*ended, running.container_id.value])
    finally:
        await driver.close()


async def test_a_standalone_container_is_forgotten_at_its_removal(
    work_dir: Path, no_leftovers: None
) -> None:
    mesos = MesosContainerizer()
    driver = await start(work_dir, mesos)
    try:
        launch = launch_container("exit 3")
        assert await driver.agent.launch_container(launch)
        termination = await driver.agent.wait_container(launch.container_id)
        assert termination.status == 3 << 8
        key = launch.container_id.value
        assert key in records(work_dir), "kept until REMOVE_CONTAINER (Mesos keeps it)"
        assert forgotten(driver) == []

        driver.agent.remove_container(launch.container_id)
        await until(lambda: key not in records(work_dir) and key not in mesos._ended)
        assert forgotten(driver) == [key]
    finally:
        await driver.close()


async def test_a_failing_forget_is_logged_and_the_agent_goes_on(
    work_dir: Path, no_leftovers: None, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await start(work_dir, ForgetFails())
    try:
        with caplog.at_level(logging.ERROR, logger="dockyard.dispatcher"):
            first = await driver.run(task_info("exit 0"))
            await until(lambda: "failed to forget" in caplog.text)
        assert first.record.state is TaskState.TASK_FINISHED
        second = await driver.run(task_info("exit 2"))
        assert second.record.state is TaskState.TASK_FAILED
        assert second.record.latest_status is not None
        assert second.record.latest_status.message == "Command exited with status 2"
    finally:
        await driver.close()
