"""Sandbox garbage collection (--gc_delay, --gc_disk_headroom, PRUNE_SANDBOXES) on a real agent."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..small_disk import fill_to, small_disk
from .conftest import RunningAgent, stop_agent

TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED")


def launch(task_id: str, command: str) -> dict[str, Any]:
    task = {"name": task_id, "task_id": {"value": task_id}, "command": {"value": command}}
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}


async def run_to_end(agent: RunningAgent, task_id: str, command: str = "echo hi") -> Path:
    assert (await agent.call(launch(task_id, command))).status == 202
    task = await agent.wait_for_state(task_id, *TERMINAL)
    return Path(task["sandbox_directory"])


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    """Until ``check()`` holds. GC runs on its own clock and sends no event, so look often."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def gone(path: Path) -> bool:
    return not await asyncio.to_thread(path.exists)


async def metric(agent: RunningAgent, name: str) -> float:
    async with agent.session.get(f"{agent.url}/metrics/snapshot") as response:
        return float((await response.json())[name])


async def test_an_ended_sandbox_is_collected_after_gc_delay_and_a_running_one_is_not(
    make_agent,
) -> None:
    agent: RunningAgent = await make_agent(
        "--containerizers=mesos", "--gc_delay=1secs", "--disk_watch_interval=1secs"
    )
    assert (await agent.call(launch("long", "sleep 60"))).status == 202
    running = Path((await agent.wait_for_state("long", "TASK_RUNNING"))["sandbox_directory"])
    done = await run_to_end(agent, "short")
    assert done.exists()

    async def removal_counted() -> bool:  # after the sandbox and its emptied parents
        return await metric(agent, "gc/path_removals_succeeded") >= 1.0

    await eventually(removal_counted)
    assert await gone(done)
    executor_dir = done.parent.parent
    assert not executor_dir.exists(), "the emptied executor directory goes too"
    assert not await gone(running)
    assert (running.parent / "latest").resolve() == running
    assert "short" not in await agent.tasks(), "its records are gone with it"
    assert await metric(agent, "gc/path_removals_succeeded") == 1.0


async def ended_runs(agent: RunningAgent, task_id: str) -> list[Path]:
    """Sandboxes of every ended task with this id (a task id may run again), oldest first."""
    body = await agent.call_json({"type": "GET_TASKS"})
    return [
        Path(task["sandbox_directory"])
        for task in body["get_tasks"].get("completed_tasks", [])
        if task["task_id"]["value"] == task_id
    ]


async def test_latest_goes_with_the_last_run(make_agent) -> None:
    agent: RunningAgent = await make_agent("--containerizers=mesos")
    await run_to_end(agent, "again")
    assert (await agent.call(launch("again", "true"))).status == 202

    async def both_ended() -> bool:
        return len(await ended_runs(agent, "again")) == 2

    await eventually(both_ended)
    first, second = await ended_runs(agent, "again")
    assert (second.parent / "latest").resolve() == second
    response = await agent.call({"type": "PRUNE_SANDBOXES"})
    assert response.status == 200
    assert (await response.json())["prune_sandboxes"]["removed"] == 2
    assert not first.exists()
    assert not second.exists()
    assert not (second.parent / "latest").is_symlink()


async def test_prune_collects_now_and_collection_survives_a_restart(make_agent) -> None:
    agent: RunningAgent = await make_agent("--containerizers=mesos", "--gc_delay=1hrs")
    sandbox = await run_to_end(agent, "t1")
    stop_agent(agent.process, signal.SIGKILL)
    restarted: RunningAgent = await make_agent(
        "--containerizers=mesos", "--gc_delay=1secs", "--disk_watch_interval=1secs"
    )
    await eventually(lambda: gone(sandbox))

    async def forgotten() -> bool:  # the records go just after the sandbox
        return await restarted.tasks() == {}

    await eventually(forgotten)
    kept = await run_to_end(restarted, "t2")
    response = await restarted.call({"type": "PRUNE_SANDBOXES"})
    assert (await response.json())["prune_sandboxes"]["removed"] >= 1
    assert not kept.exists()


async def test_a_filling_disk_collects_early(make_agent, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 64) as disk:
        agent: RunningAgent = await make_agent(
            "--containerizers=mesos",
            "--gc_delay=1weeks",
            "--gc_disk_headroom=0.1",
            "--disk_watch_interval=1secs",
            work_dir=disk / "work",
        )
        sandbox = await run_to_end(agent, "t1")
        await asyncio.sleep(0)  # a week to go: nothing is due yet
        assert sandbox.exists()
        fill_to(disk, 0.93)
        await eventually(lambda: gone(sandbox))
        stop_agent(agent.process)
