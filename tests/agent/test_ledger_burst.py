"""A burst of 3,000 tasks with a subscriber that keeps up: it is never dropped and gets
every update of every task, once.

Before the ledger, the agent queued events per subscriber and dropped one 10,000
events behind, though it was reading as fast as it could.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from .calls import launch
from .conftest import RunningAgent
from .recordio import Subscriber

pytest.importorskip("dockyard_mesos")

TASKS = 3000
LAUNCHES_IN_FLIGHT = 32
NORMAL_LIFE = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]


@pytest.mark.slow
async def test_a_subscriber_keeping_up_with_a_3000_task_burst_gets_every_update(
    make_agent,
) -> None:
    agent: RunningAgent = await make_agent("--containerizers=mesos")
    task_ids = [f"t{n}" for n in range(TASKS)]

    async with Subscriber.open(agent.session, agent.url) as subscriber:

        async def launch_one_at_a_time(queue: Iterator[str]) -> None:
            for task_id in queue:  # the launchers share one iterator
                response = await agent.call(launch(task_id, "true"))
                assert response.status == 202, await response.text()

        queue = iter(task_ids)
        await asyncio.gather(*(launch_one_at_a_time(queue) for _ in range(LAUNCHES_IN_FLIGHT)))
        await subscriber.until(lambda: subscriber.counts["TASK_FINISHED"] >= TASKS)

    assert subscriber.ended is None
    assert subscriber.other_events == [], "no ERROR event: the subscriber was not dropped"
    wrong = {t: subscriber.states(t) for t in task_ids if subscriber.states(t) != NORMAL_LIFE}
    assert wrong == {}, "every update of every task, each once"
    assert len(subscriber.statuses) == TASKS * len(NORMAL_LIFE)
