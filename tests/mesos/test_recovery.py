"""Agent restart: tasks outlive a SIGKILLed agent and a fresh plugin instance recovers them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard.containers import RecoveredContainer
from dockyard.messages import TaskState

from tests.mesos.harness import STATE, gone, make_config, shell, until

REPOSITORY = Path(__file__).parents[2]
WAIT_FOR_GO = "echo > ready; until [ -e go ]; do sleep 0.02; done; exit {code}"


async def crash_after_launching(
    work_dir: Path, agent_id: str, **scripts: str
) -> dict[str, dict[str, Any]]:
    """Run an agent in a subprocess that launches ``scripts``, then SIGKILL it."""
    tasks = [f"{name}={script}" for name, script in scripts.items()]
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.mesos.crashing_agent",
        str(work_dir),
        agent_id,
        *tasks,
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
    )
    handles = {}
    try:
        assert agent.stdout is not None
        while (line := await agent.stdout.readline()) not in (b"ready\n", b""):
            launched = json.loads(line)
            handles[launched["name"]] = launched["handle"]
    finally:
        agent.kill()
        await agent.wait()
    assert set(handles) == set(scripts)
    return handles


def recovered(work_dir: Path, name: str, handle: dict[str, Any]) -> RecoveredContainer:
    return RecoveredContainer(config=make_config(work_dir, name, shell("")), handle=handle)


async def test_tasks_survive_an_agent_sigkill_and_report_their_real_exit(
    start_containerizer, work_dir, agent_id
):
    handles = await crash_after_launching(
        work_dir,
        agent_id,
        running=WAIT_FOR_GO.format(code=7),
        finished=WAIT_FOR_GO.format(code=5),
        orphan=WAIT_FOR_GO.format(code=0),
    )
    sandboxes = work_dir / "containers"
    await until((sandboxes / "finished" / "ready").exists)
    (sandboxes / "finished" / "go").touch()  # it ends while no agent runs
    await until(lambda: gone(handles["finished"]["pid"]))

    mesos = await start_containerizer()
    found = await mesos.recover(
        [
            recovered(work_dir, "running", handles["running"]),
            recovered(work_dir, "finished", handles["finished"]),
            recovered(work_dir, "never-launched", {"pid": 1, "start_time": 0.0}),
        ]
    )
    assert sorted(str(container_id) for container_id in found) == ["finished", "running"]
    finished = await mesos.wait(make_config(work_dir, "finished", shell("")).container_id)
    assert finished is not None
    assert finished.message == "Command exited with status 5"

    running_id = make_config(work_dir, "running", shell("")).container_id
    assert not gone(handles["running"]["pid"])
    (sandboxes / "running" / "go").touch()
    running = await mesos.wait(running_id)
    assert running is not None
    assert running.status is not None
    assert os.WEXITSTATUS(running.status) == 7

    await until(lambda: gone(handles["orphan"]["pid"]))  # not checkpointed: cleaned up
    assert await mesos.wait(make_config(work_dir, "orphan", shell("")).container_id) is None


async def test_a_kill_begun_before_the_agent_stopped_still_ends_the_task_killed(
    start_containerizer, work_dir
):
    first = await start_containerizer()
    script = "trap 'echo > got_term; sleep 60' TERM; echo > ready; while true; do sleep 0.01; done"
    config = make_config(work_dir, "dying", shell(script))
    await first.prepare(config)
    handle = (await first.launch(config)).handle
    await until((config.sandbox / "ready").exists)
    destroying = asyncio.create_task(first.destroy(config.container_id, timedelta(seconds=0.3)))
    await until((config.sandbox / "got_term").exists)
    destroying.cancel()
    await first.stop()  # the escalation to SIGKILL happens while no agent listens

    second = await start_containerizer()
    assert await second.recover([RecoveredContainer(config=config, handle=handle)])
    termination = await second.wait(config.container_id)
    assert termination is not None
    assert termination.status is not None
    assert termination.state is TaskState.TASK_KILLED
    assert os.WTERMSIG(termination.status) == signal.SIGKILL


async def test_a_new_supervisor_adopts_the_tasks_of_one_that_died(mesos, work_dir):
    config = make_config(work_dir, "adopted", shell(WAIT_FOR_GO.format(code=3)))
    await mesos.prepare(config)
    await mesos.launch(config)
    await until((config.sandbox / "ready").exists)
    state = work_dir / STATE
    old_supervisor = int((state / "supervisor.pid").read_text())
    os.kill(old_supervisor, signal.SIGKILL)
    await until(lambda: (state / "supervisor.pid").read_text() != f"{old_supervisor}\n")
    (config.sandbox / "go").touch()
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.status is None
    assert termination.state is TaskState.TASK_FAILED
    assert "exit status unknown" in termination.message


async def test_a_checkpoint_naming_another_launch_is_not_recovered(start_containerizer, work_dir):
    first = await start_containerizer()
    config = make_config(work_dir, "mismatch", shell(WAIT_FOR_GO.format(code=0)))
    await first.prepare(config)
    handle = (await first.launch(config)).handle
    await first.stop()

    second = await start_containerizer()
    stale = {**handle, "start_time": handle["start_time"] - 1}
    assert await second.recover([RecoveredContainer(config=config, handle=stale)]) == []
    await until(lambda: gone(handle["pid"]))
    assert await second.wait(config.container_id) is None


async def test_a_launch_the_core_never_checkpointed_is_adopted(
    start_containerizer, work_dir, agent_id
):
    """The agent died between the spawn and its checkpoint: the supervisor's record wins."""
    handles = await crash_after_launching(work_dir, agent_id, unrecorded=WAIT_FOR_GO.format(code=6))
    mesos = await start_containerizer()
    config = make_config(work_dir, "unrecorded", shell(""))
    found = await mesos.recover([RecoveredContainer(config=config, handle={})])
    assert found == [config.container_id]
    assert not gone(handles["unrecorded"]["pid"])
    assert await mesos.usage(config.container_id) is not None
    (config.sandbox / "go").touch()
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.status is not None
    assert os.WEXITSTATUS(termination.status) == 6
