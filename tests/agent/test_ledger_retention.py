"""Memory stays bounded: completed tasks beyond the retention flags leave memory and
GET_TASKS but not the disk, and a TaskInfo too large to keep is refused."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from dockyard.ledger import Retention

from .calls import kill, launch
from .conftest import RunningAgent, stop_agent
from .recordio import Subscriber

pytest.importorskip("dockyard_mesos")

MESOS = "--containerizers=mesos"
COMPLETED = 50
IN_FLIGHT = 10


def stored_rows(work_dir: Path) -> tuple[int, int]:
    """``(tasks, statuses)`` rows in the ledger (read beside the running agent: WAL)."""
    uri = f"file:{work_dir / 'meta' / 'ledger.sqlite'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        tasks = db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        statuses = db.execute("SELECT COUNT(*) FROM statuses").fetchone()[0]
    db.close()
    return tasks, statuses


async def completed_ids(agent: RunningAgent) -> list[str]:
    body = await agent.call_json({"type": "GET_TASKS"})
    return [t["task_id"]["value"] for t in body["get_tasks"].get("completed_tasks", [])]


@pytest.mark.parametrize(
    ("flag", "kept"),
    [
        ("--max_completed_tasks_per_framework=10", 10),
        ("--max_completed_executors_per_framework=7", 7),  # a command task is its own
    ],
)
async def test_completed_tasks_beyond_the_bound_leave_memory_not_the_disk(
    make_agent, flag: str, kept: int
) -> None:
    agent: RunningAgent = await make_agent(MESOS, flag)
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with Subscriber.open(agent.session, agent.url) as subscriber:

        async def run(task_id: str) -> None:
            async with slots:
                assert (await agent.call(launch(task_id, "true"))).status == 202
                await subscriber.until(lambda: "TASK_FINISHED" in subscriber.states(task_id))

        await asyncio.gather(*(run(f"t{n}") for n in range(COMPLETED)))
    ended = [s["task_id"]["value"] for s in subscriber.statuses if s["state"] == "TASK_FINISHED"]
    newest = sorted(ended[-kept:])

    shown = await completed_ids(agent)
    assert sorted(shown) == newest, "the newest completed tasks stay"
    assert stored_rows(agent.work_dir) == (COMPLETED, 4 * COMPLETED), "all stay on disk"
    stop_agent(agent.process, signal.SIGKILL)
    restarted: RunningAgent = await make_agent(MESOS, flag, work_dir=agent.work_dir)
    assert await completed_ids(restarted) == shown, "the same ones, in the same order"


async def test_a_task_too_large_to_keep_is_refused_naming_the_limit(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    big = launch("big", "true")
    variables = [{"name": "BIG", "value": "x" * (2 << 20)}]
    big["launch_task"]["task"]["command"]["environment"] = {"variables": variables}
    response = await agent.call(big)
    assert response.status == 400
    assert "the limit is 1 MiB" in await response.text()
    assert "big" not in await agent.tasks()
    assert not list(agent.work_dir.glob("slaves/*/frameworks/*/executors/big"))
    assert (await agent.call(launch("big", "true"))).status == 202, "nothing was left behind"
    assert (await agent.wait_for_state("big", "TASK_FINISHED"))["state"] == "TASK_FINISHED"


def in_framework(call: dict[str, Any], name: str) -> dict[str, Any]:
    call["launch_task"]["framework_info"] = {
        "user": getpass.getuser(),
        "name": name,
        "id": {"value": name},
    }
    return call


async def test_only_the_newest_completed_frameworks_keep_their_tasks_in_memory(
    make_agent,
) -> None:
    """As Mesos's agent keeps 50 completed frameworks: a client naming a new framework
    in every launch must not grow the agent's memory without end."""
    agent: RunningAgent = await make_agent(MESOS)
    kept = Retention().completed_frameworks
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with Subscriber.open(agent.session, agent.url) as subscriber:

        async def run(task_id: str, framework: str) -> None:
            async with slots:
                call = in_framework(launch(task_id, "true"), framework)
                assert (await agent.call(call)).status == 202
                await subscriber.until(lambda: "TASK_FINISHED" in subscriber.states(task_id))

        # The oldest framework still runs a task: its completed task stays.
        running = in_framework(launch("running", "sleep 600"), "busy")
        assert (await agent.call(running)).status == 202
        await run("busy-done", "busy")
        await asyncio.gather(*(run(f"t{n}", f"fw{n}") for n in range(kept + 10)))
        ended = [
            s["task_id"]["value"] for s in subscriber.statuses if s["state"] == "TASK_FINISHED"
        ]
        assert sorted(await completed_ids(agent)) == sorted(["busy-done", *ended[-kept:]])
        assert (await agent.call(kill("running"))).status == 202
        await subscriber.until(lambda: "TASK_KILLED" in subscriber.states("running"))
    assert stored_rows(agent.work_dir)[0] == kept + 12, "all stay on disk"
