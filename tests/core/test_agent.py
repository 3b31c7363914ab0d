"""The task lifecycle: statuses, failures, kills, time limits and recovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dockyard.agent import Agent, TaskConflictError
from dockyard.containers import StartupError
from dockyard.core_flags import core_flag_set
from dockyard.host import PluginHost
from dockyard.ledger import TaskRecord
from dockyard.messages import (
    CommandInfo,
    DurationInfo,
    Environment,
    EnvironmentVariable,
    KillPolicy,
    MessageError,
    Reason,
    Secret,
    SecretType,
    SecretValue,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    VariableType,
    load,
)
from dockyard.testing import AgentDriver

from .scripted import ScriptedContainerizer, host_with


def make_agent(tmp_path: Path, host: PluginHost, *flags: str) -> Agent:
    parsed = core_flag_set().parse([f"--work_dir={tmp_path / 'work'}", *flags], {})
    return Agent(parsed, host)


def a_task(task_id: str = "t1", **fields: object) -> TaskInfo:
    fields.setdefault("command", CommandInfo(value="true"))
    return TaskInfo(name="test", task_id=TaskID(value=task_id), **fields)  # type: ignore[arg-type]


def states(record: TaskRecord) -> list[TaskState]:
    return [status.state for status in record.statuses]


async def settle(agent: Agent, record: TaskRecord, state: TaskState) -> None:
    """Wait until ``record`` reaches ``state``."""
    reached = asyncio.Event()

    def listener(updated: TaskRecord, status: TaskStatus) -> None:
        if updated is record and status.state is state:
            reached.set()

    unsubscribe = agent.subscribe(listener)
    if record.state is not state:
        await reached.wait()
    unsubscribe()


@pytest.fixture
async def scripted(tmp_path: Path):
    plugin = ScriptedContainerizer()
    driver = AgentDriver(tmp_path / "work", {"a": plugin})
    await driver.start()
    yield driver.agent, plugin
    await driver.stop()


async def test_statuses_of_a_finished_task(scripted, tmp_path: Path) -> None:
    agent, plugin = scripted
    record = await agent.launch_task(a_task())
    await settle(agent, record, TaskState.TASK_RUNNING)
    plugin.finish(record.container_id.value, 0)
    final = await agent.wait_task(record)
    assert states(record) == [
        TaskState.TASK_STAGING,
        TaskState.TASK_STARTING,
        TaskState.TASK_RUNNING,
        TaskState.TASK_FINISHED,
    ]
    assert final.message == "Container exited with status 0"
    assert record.statuses[2].data == b"inspect"
    assert all(s.executor_id and s.executor_id.value == "t1" for s in record.statuses)
    assert len({s.uuid for s in record.statuses}) == 4


async def test_sandbox_follows_the_mesos_layout(scripted) -> None:
    agent, _ = scripted
    record = await agent.launch_task(a_task())
    await settle(agent, record, TaskState.TASK_RUNNING)
    runs = record.sandbox.parent
    assert record.sandbox.is_dir()
    assert runs.name == "runs"
    assert (runs / "latest").resolve() == record.sandbox.resolve()
    assert runs.parent.name == "t1"
    assert record.sandbox.relative_to(agent.work_dir).parts[:4] == (
        "slaves",
        agent.agent_id,
        "frameworks",
        "dockyard",
    )


async def test_non_zero_exit_fails_the_task(scripted) -> None:
    agent, plugin = scripted
    record = await agent.launch_task(a_task())
    await settle(agent, record, TaskState.TASK_RUNNING)
    plugin.finish(record.container_id.value, 3 << 8)
    final = await agent.wait_task(record)
    assert final.state is TaskState.TASK_FAILED
    assert final.message == "Container exited with status 3"
    assert record.exit_status == 3 << 8


async def test_launch_failure_reports_the_reason(tmp_path: Path) -> None:
    agent = make_agent(
        tmp_path,
        host_with(a=ScriptedContainerizer(launch_error="no such image")),
        "--containerizers=a",
    )
    await agent.start()
    final = await agent.wait_task(await agent.launch_task(a_task()))
    assert final.state is TaskState.TASK_FAILED
    assert final.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert final.message == "Failed to launch container: no such image"
    await agent.stop()


async def test_no_containerizer_accepting_names_the_enabled_ones(tmp_path: Path) -> None:
    host = host_with(a=ScriptedContainerizer(accept=False), b=ScriptedContainerizer(accept=False))
    agent = make_agent(tmp_path, host, "--containerizers=b,a")
    await agent.start()
    final = await agent.wait_task(await agent.launch_task(a_task()))
    assert final.state is TaskState.TASK_FAILED
    assert final.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert "None of the enabled containerizers (b, a)" in (final.message or "")
    await agent.stop()


async def test_kill_ends_killed_even_if_the_task_exits_zero(tmp_path: Path) -> None:
    plugin = ScriptedContainerizer(status_on_destroy=0)
    agent = make_agent(tmp_path, host_with(a=plugin), "--containerizers=a")
    await agent.start()
    record = await agent.launch_task(a_task())
    await settle(agent, record, TaskState.TASK_RUNNING)
    await agent.kill_task(TaskID(value="t1"))
    final = await agent.wait_task(record)
    assert final.state is TaskState.TASK_KILLED
    assert record.exit_status == 0
    await agent.stop()


async def test_kill_uses_the_kill_policy_grace(scripted) -> None:
    agent, plugin = scripted
    record = await agent.launch_task(
        a_task(kill_policy=KillPolicy(grace_period=DurationInfo(nanoseconds=250_000_000)))
    )
    await settle(agent, record, TaskState.TASK_RUNNING)
    await agent.kill_task(TaskID(value="t1"))
    final = await agent.wait_task(record)
    assert final.state is TaskState.TASK_KILLED
    assert plugin.destroy_grace[-1] is not None
    assert plugin.destroy_grace[-1].total_seconds() == 0.25


async def test_kill_during_launch_ends_killed(tmp_path: Path) -> None:
    plugin = ScriptedContainerizer(block_prepare=True)
    agent = make_agent(tmp_path, host_with(a=plugin), "--containerizers=a")
    await agent.start()
    record = await agent.launch_task(a_task())
    await plugin.preparing.wait()
    await agent.kill_task(TaskID(value="t1"))
    final = await agent.wait_task(record)
    assert final.state is TaskState.TASK_KILLED
    assert final.reason is Reason.REASON_TASK_KILLED_DURING_LAUNCH
    assert plugin.prepare_cancelled
    await agent.stop()


async def test_max_completion_time_fails_the_task(scripted) -> None:
    agent, _ = scripted
    record = await agent.launch_task(
        a_task(max_completion_time=DurationInfo(nanoseconds=10_000_000))
    )
    final = await agent.wait_task(record)
    assert final.state is TaskState.TASK_FAILED
    assert final.reason is Reason.REASON_MAX_COMPLETION_TIME_REACHED


async def test_default_container_info_applies_to_container_less_tasks(tmp_path: Path) -> None:
    plugin = ScriptedContainerizer()
    agent = make_agent(
        tmp_path,
        host_with(a=plugin),
        "--containerizers=a",
        '--default_container_info={"type": "MESOS"}',
    )
    await agent.start()
    record = await agent.launch_task(a_task())
    assert record.task.container is not None
    assert record.task.container.type.name == "MESOS"
    await agent.stop()


async def test_invalid_task_creates_nothing(scripted) -> None:
    agent, _ = scripted
    with pytest.raises(MessageError, match=r"task_id"):
        await agent.launch_task(a_task("../escape"))
    assert agent.tasks() == []
    assert not (agent.work_dir / "slaves").exists()
    assert agent.ledger.accepted() == []


async def test_a_running_task_id_cannot_be_reused(scripted) -> None:
    agent, _ = scripted
    await agent.launch_task(a_task())
    with pytest.raises(TaskConflictError, match="already running"):
        await agent.launch_task(a_task())


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--containerizers=a,a", "Duplicate entries found in --containerizers: a"),
        (
            "--containerizers=a,nope",
            "Unknown containerizer(s) in --containerizers: nope; installed: a",
        ),
    ],
)
async def test_bad_containerizers_flag_is_a_startup_error(
    tmp_path: Path, flag: str, message: str
) -> None:
    agent = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), flag)
    with pytest.raises(StartupError) as caught:
        await agent.start()
    assert message in str(caught.value)


async def test_secrets_never_reach_the_checkpoint(scripted) -> None:
    agent, _ = scripted
    secret = EnvironmentVariable(
        name="TOKEN",
        type=VariableType.SECRET,
        secret=Secret(type=SecretType.VALUE, value=SecretValue(data=b"hunter2")),
    )
    task = a_task(command=CommandInfo(value="true", environment=Environment(variables=[secret])))
    record = await agent.launch_task(task)
    await settle(agent, record, TaskState.TASK_RUNNING)
    await agent.stop()
    stored = b"".join(path.read_bytes() for path in (agent.meta_dir).glob("ledger.sqlite*"))
    assert b"hunter2" not in stored
    assert b"aHVudGVyMg" not in stored  # base64 of the secret
    assert b'"task_id":{"value":"t1"}' in stored


async def test_agent_id_is_created_once(tmp_path: Path) -> None:
    ids = []
    for _ in range(2):
        agent = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), "--containerizers=a")
        await agent.start()
        ids.append(agent.agent_id)
        await agent.stop()
    assert ids[0] == ids[1]
    assert ids[0].endswith("-S0")


async def test_recovery_reattaches_claimed_and_fails_unclaimed(tmp_path: Path) -> None:
    first = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), "--containerizers=a")
    await first.start()
    kept = await first.launch_task(a_task("kept"))
    lost = await first.launch_task(a_task("lost"))
    await settle(first, kept, TaskState.TASK_RUNNING)
    await settle(first, lost, TaskState.TASK_RUNNING)
    await first.stop()

    plugin = ScriptedContainerizer(recoverable=[kept.container_id.value])
    second = make_agent(tmp_path, host_with(a=plugin), "--containerizers=a")
    await second.start()
    by_id = {r.task.task_id.value: r for r in second.tasks()}
    assert by_id["lost"].state is TaskState.TASK_FAILED
    assert by_id["lost"].latest_status is not None
    assert by_id["lost"].latest_status.reason is Reason.REASON_EXECUTOR_TERMINATED
    assert by_id["kept"].state is TaskState.TASK_RUNNING
    assert states(by_id["kept"]) == states(kept), "no transition is reported twice"
    plugin.finish(kept.container_id.value, 0)
    final = await second.wait_task(by_id["kept"])
    assert final.state is TaskState.TASK_FINISHED
    await second.stop()


async def test_recovery_fails_tasks_of_a_containerizer_no_longer_enabled(tmp_path: Path) -> None:
    first = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), "--containerizers=a")
    await first.start()
    record = await first.launch_task(a_task())
    await settle(first, record, TaskState.TASK_RUNNING)
    await first.stop()

    host = host_with(a=ScriptedContainerizer(), b=ScriptedContainerizer())
    second = make_agent(tmp_path, host, "--containerizers=b")
    await second.start()
    (recovered,) = second.tasks()
    assert recovered.state is TaskState.TASK_FAILED
    assert "'a'" in (recovered.latest_status.message or "")  # type: ignore[union-attr]
    await second.stop()


async def test_checkpoint_round_trips_a_record(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), "--containerizers=a")
    await agent.start()
    record = await agent.launch_task(a_task())
    await settle(agent, record, TaskState.TASK_RUNNING)
    await agent.stop()
    reopened = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), "--containerizers=a")
    assert reopened.ledger.open() == ([], None)
    (loaded,) = reopened.ledger.tasks()
    assert loaded.task.task_id == record.task.task_id
    assert [s.uuid for s in loaded.statuses] == [s.uuid for s in record.statuses]
    assert loaded.handle == {"scripted": record.container_id.value}
    assert load(TaskID, {"value": "t1"}) == record.task.task_id


async def test_registration_timeout_fails_a_launch_that_hangs(tmp_path: Path) -> None:
    plugin = ScriptedContainerizer(block_prepare=True)
    # Long enough for the sandbox to be made on a loaded machine, so that the timeout
    # finds the launch where it hangs (in prepare), not before it.
    agent = make_agent(
        tmp_path, host_with(a=plugin), "--containerizers=a", "--executor_registration_timeout=500ms"
    )
    await agent.start()
    final = await agent.wait_task(await agent.launch_task(a_task()))
    assert final.state is TaskState.TASK_FAILED
    assert final.reason is Reason.REASON_EXECUTOR_REGISTRATION_TIMEOUT
    assert "did not start within 500ms" in (final.message or "")
    assert plugin.prepare_cancelled
    await agent.stop()


async def test_recover_cleanup_kills_recovered_tasks(tmp_path: Path) -> None:
    first = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), "--containerizers=a")
    await first.start()
    record = await first.launch_task(a_task())
    await settle(first, record, TaskState.TASK_RUNNING)
    await first.stop()

    plugin = ScriptedContainerizer(recoverable=[record.container_id.value])
    second = make_agent(tmp_path, host_with(a=plugin), "--containerizers=a", "--recover=cleanup")
    await second.start()
    await second.cleanup()
    (recovered,) = second.tasks()
    assert recovered.state is TaskState.TASK_KILLED
    assert ("destroy", record.container_id.value) in plugin.calls
    await second.stop()
