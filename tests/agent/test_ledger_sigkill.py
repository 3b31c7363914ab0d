"""SIGKILL at many points of a burst of launches: after the restart no update that was
published (seen by a subscriber, or answered to a launch) is lost, none is repeated,
and every task ends exactly once.

The ledger publishes an update only once the group commit covering it is durable, so
whatever a subscriber saw must be on disk, whichever commit the kill interrupted.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from .calls import launch
from .conftest import TERMINAL, RunningAgent, processes_of, stop_agent
from .recordio import Subscriber

pytest.importorskip("dockyard_mesos")

BURST = 150
"""No more than --max_completed_executors_per_framework keeps in GET_TASKS by default."""
FLAGS = ("--containerizers=mesos",)


def check_history(task_id: str, statuses: list[dict[str, Any]]) -> None:
    """Each state at most once (no repeated transition), distinct uuids, one terminal, last."""
    states = [s["state"] for s in statuses]
    assert len(set(states)) == len(states), (task_id, states)
    assert len({s["uuid"] for s in statuses}) == len(statuses), (task_id, statuses)
    assert [s for s in states if s in TERMINAL] == states[-1:], (task_id, states)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_after",
    [0, 40, 300, 520],
    ids=["first-launch-answer", "40-updates", "300-updates", "520-updates"],
)
async def test_sigkill_during_a_burst_loses_and_repeats_nothing_published(
    make_agent, kill_after: int
) -> None:
    """``kill_after``: updates seen before the SIGKILL; 0 kills as soon as the first
    launch is answered, while the launches behind it are in the next group commits."""
    agent: RunningAgent = await make_agent(*FLAGS)
    answered: list[str] = []
    first_answer = asyncio.Event()

    async def launch_one(task_id: str) -> None:
        response = await agent.call(launch(task_id, "true"))
        if response.status == 202:
            answered.append(task_id)
            first_answer.set()

    async with Subscriber.open(agent.session, agent.url) as subscriber:
        launches = [asyncio.create_task(launch_one(f"b{n}")) for n in range(BURST)]
        if kill_after == 0:
            await first_answer.wait()
        else:
            await subscriber.until(lambda: len(subscriber.statuses) >= kill_after)
        stop_agent(agent.process, signal.SIGKILL)
        await asyncio.gather(*launches, return_exceptions=True)
        assert subscriber.reader is not None
        await subscriber.reader  # what was sent before the kill has been read
    published = subscriber.statuses
    assert published or kill_after == 0

    restarted: RunningAgent = await make_agent(*FLAGS, work_dir=agent.work_dir)
    async with Subscriber.open(restarted.session, restarted.url) as after:
        live = [t for t, task in (await restarted.tasks()).items() if task["state"] not in TERMINAL]
        await after.until(lambda: all(set(after.states(t)) & TERMINAL for t in live))
    tasks = await restarted.tasks()

    assert set(answered) <= set(tasks), "every answered launch was recorded"
    for status in published:
        task_id = status["task_id"]["value"]
        kept = [s["uuid"] for s in tasks[task_id]["statuses"]]
        seen = [s["uuid"] for s in published if s["task_id"]["value"] == task_id]
        assert kept[: len(seen)] == seen, f"{task_id}: published updates lost or reordered"
    for task_id, task in tasks.items():
        check_history(task_id, task["statuses"])
    assert processes_of(agent.work_dir) == []
