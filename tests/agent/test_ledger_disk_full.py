"""The ledger on a full disk: a launch is refused cleanly, a running task's end is held
until space returns, then delivered exactly once, and a restart loses nothing.

The work_dir is a small tmpfs filled to its last page. SQLite appends each commit to
its WAL (which is not checkpointed, hence not reused, before 1000 pages), so every
commit made while the disk is full fails: the test does not depend on timing.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..small_disk import fill_up, small_disk
from .calls import kill, launch
from .conftest import RunningAgent, polled, stop_agent
from .recordio import Subscriber

pytest.importorskip("dockyard_mesos")

pytestmark = pytest.mark.root

MESOS = "--containerizers=mesos"
NORMAL_LIFE = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs, requested before ``make_agent`` so that it is unmounted only
    after every agent and task process of the test is gone."""
    with small_disk(tmp_path / "disk", 16) as mounted:
        yield mounted


def identities(statuses: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["state"], s["uuid"]) for s in statuses]


async def ended_and_held(agent: RunningAgent) -> bool:
    """Every container has ended (so the agent has accepted the terminal updates) and
    the ledger holds updates: nothing the API publishes could say so."""
    metrics = await agent.metrics()
    return metrics["slave/containers_running"] == 0 and metrics["ledger/held_updates"] > 0


async def test_a_full_disk_refuses_launches_and_holds_updates_until_space_returns(
    disk: Path, make_agent, tmp_path: Path
) -> None:
    agent: RunningAgent = await make_agent(MESOS, work_dir=disk / "work")
    go = tmp_path / "go"  # off the full disk
    async with Subscriber.open(agent.session, agent.url) as subscriber:
        await agent.call(launch("ends", f"while [ ! -f {go} ]; do sleep 0.05; done"))
        await agent.call(launch("killed", "sleep 600"))
        await subscriber.until(
            lambda: (
                "TASK_RUNNING" in subscriber.states("ends")
                and "TASK_RUNNING" in subscriber.states("killed")
            )
        )

        filler = fill_up(disk)
        try:
            refused = await agent.call(launch("refused", "true"))
            assert refused.status == 507, await refused.text()
            message = await refused.text()
            assert "disk is full" in message
            assert str(disk / "work" / "meta" / "ledger.sqlite") in message
            assert "refused" not in await agent.tasks()
            assert not list((disk / "work").glob("slaves/*/frameworks/*/executors/refused"))

            go.touch()  # "ends" ends while nothing can be written
            assert (await agent.call(kill("killed"))).status == 202
            await polled(lambda: ended_and_held(agent))
            assert (await agent.metrics())["ledger/storage_failing"] == 1
            assert not await agent.healthy()
            tasks = await agent.tasks()
            for task_id in ("ends", "killed"):
                assert tasks[task_id]["state"] == "TASK_RUNNING", "held: not published"
                assert subscriber.states(task_id) == NORMAL_LIFE[:3]
        finally:
            filler.unlink()

        await subscriber.until(
            lambda: (
                "TASK_FINISHED" in subscriber.states("ends")
                and "TASK_KILLED" in subscriber.states("killed")
            )
        )
        assert await agent.healthy()
        assert (await agent.metrics())["ledger/held_updates"] == 0
        relaunched = await agent.call(launch("refused", "true"))
        assert relaunched.status == 202, await relaunched.text()
        await subscriber.until(lambda: "TASK_FINISHED" in subscriber.states("refused"))
        # the later task's end is a barrier: a repeated held update would come before it
        assert subscriber.states("ends") == NORMAL_LIFE
        assert subscriber.states("killed") == [*NORMAL_LIFE[:3], "TASK_KILLED"]
        assert subscriber.states("refused") == NORMAL_LIFE
        assert subscriber.other_events == []

    stop_agent(agent.process, signal.SIGKILL)
    restarted: RunningAgent = await make_agent(MESOS, work_dir=agent.work_dir)
    tasks = await restarted.tasks()
    assert sorted(tasks) == ["ends", "killed", "refused"]
    for task_id, task in tasks.items():
        assert identities(task["statuses"]) == identities(subscriber.of(task_id)), (
            "nothing lost, nothing repeated"
        )


async def test_health_returns_with_space_after_only_launches_were_refused(
    disk: Path, make_agent
) -> None:
    """No update is held, so no retry proves the disk writable: the ledger must probe,
    or the agent stays unhealthy (and gets no more tasks) until someone launches one."""
    agent: RunningAgent = await make_agent(MESOS, work_dir=disk / "work")
    filler = fill_up(disk)
    try:
        assert (await agent.call(launch("refused", "true"))).status == 507
        assert not await agent.healthy()
    finally:
        filler.unlink()
    await polled(agent.healthy)
    assert (await agent.metrics())["ledger/storage_failing"] == 0
