"""The agent is SIGKILLed at any moment and restarted: nothing is lost or repeated.

These run the real ``mesos`` containerizer, whose task processes outlive the agent.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from .calls import launch
from .conftest import RunningAgent, processes_of, stop_agent
from .recordio import next_event

pytest.importorskip("dockyard_mesos")

MESOS = "--containerizers=mesos"
DEFINITE = ("TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED")


def statuses(task: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["state"], s["uuid"]) for s in task["statuses"]]


async def test_tasks_running_and_ended_during_downtime_are_reported(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    await agent.call(launch("long", "sleep 60"))
    await agent.call(
        launch("short", "touch started; while [ ! -f go ]; do sleep 0.05; done; exit 3")
    )
    long_before = await agent.wait_for_state("long", "TASK_RUNNING")
    short_before = await agent.wait_for_state("short", "TASK_RUNNING")
    stop_agent(agent.process, signal.SIGKILL)

    (Path(short_before["sandbox_directory"]) / "go").touch()  # ends while the agent is down
    restarted: RunningAgent = await make_agent(MESOS, work_dir=agent.work_dir)
    short = await restarted.wait_for_state("short", "TASK_FAILED")
    assert short["statuses"][-1]["message"] == "Command exited with status 3"
    assert statuses(short)[:-1] == statuses(short_before), "earlier updates kept, none repeated"
    long = (await restarted.tasks())["long"]
    assert long["state"] == "TASK_RUNNING"
    assert statuses(long) == statuses(long_before)

    stream = await restarted.session.post(f"{restarted.url}/api/v1", json={"type": "SUBSCRIBE"})
    replay = (await next_event(stream))["subscribed"]["get_state"]["get_tasks"]
    replayed = {t["task_id"]["value"]: t for key in replay for t in replay[key]}
    assert statuses(replayed["short"]) == statuses(short)
    stream.close()

    assert processes_of(agent.work_dir), "the running task is found by its environment"
    await restarted.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": "long"}}})
    assert (await restarted.wait_for_state("long", "TASK_KILLED"))["state"] == "TASK_KILLED"
    assert processes_of(agent.work_dir) == []


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.1])
async def test_sigkill_in_the_middle_of_launches_leaves_definite_states(
    make_agent, delay: float
) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    ids = [f"t{n}" for n in range(8)]
    launches = [asyncio.create_task(agent.call(launch(task_id, "sleep 60"))) for task_id in ids]
    await asyncio.sleep(delay)
    stop_agent(agent.process, signal.SIGKILL)
    await asyncio.gather(*launches, return_exceptions=True)

    restarted: RunningAgent = await make_agent(MESOS, work_dir=agent.work_dir)
    tasks = await restarted.tasks()
    for task_id, task in tasks.items():
        assert task["state"] in DEFINITE, (task_id, task["state"])
        uuids = [s["uuid"] for s in task["statuses"]]
        assert len(uuids) == len(set(uuids))
    for task_id, task in tasks.items():
        if task["state"] == "TASK_RUNNING":
            await restarted.call(
                {"type": "KILL_TASK", "kill_task": {"task_id": {"value": task_id}}}
            )
            await restarted.wait_for_state(task_id, "TASK_KILLED")
    assert processes_of(agent.work_dir) == [], "no task process outlives its task"


@pytest.mark.parametrize("stage", ["fetch", "pull"])
async def test_sigkill_during_fetch_or_pull_ends_the_task_cleanly(make_agent, stage: str) -> None:
    """The agent dies while a download hangs; after the restart the task has failed."""
    if stage == "pull":
        pytest.importorskip("dockyard_docker")
    reached = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.set()
        await reader.read()  # never answer; wait for the client to go away
        writer.close()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    task: dict[str, Any] = {"name": "t", "task_id": {"value": "t"}, "command": {"value": "true"}}
    if stage == "fetch":
        task["command"]["uris"] = [{"value": f"http://127.0.0.1:{port}/payload.tgz"}]
    else:
        task["container"] = {"type": "DOCKER", "docker": {"image": f"127.0.0.1:{port}/never:1"}}
    flags = ("--containerizers=docker,mesos",) if stage == "pull" else (MESOS,)
    async with server:
        agent: RunningAgent = await make_agent(*flags)
        await agent.call({"type": "LAUNCH_TASK", "launch_task": {"task": task}})
        async with asyncio.timeout(30):
            await reached.wait()
        stop_agent(agent.process, signal.SIGKILL)
        restarted: RunningAgent = await make_agent(*flags, work_dir=agent.work_dir)
        recovered = (await restarted.tasks())["t"]
    assert recovered["state"] == "TASK_FAILED"
    assert recovered["statuses"][-1]["reason"] == "REASON_EXECUTOR_TERMINATED"
    assert processes_of(agent.work_dir) == []
