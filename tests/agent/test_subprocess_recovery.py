"""The reference ``SubprocessContainerizer`` (the sample plugin is one) across an agent SIGKILL.

A real agent subprocess is SIGKILLed while its tasks run and restarted on the same work
dir: each task then reports its real end, exit code or signal, exactly once, including a
task that ended while no agent ran; a kill after the restart still gives the grace period;
and once the agent has stopped, nothing of it is left.
"""

from __future__ import annotations

import os
import select
import signal
from pathlib import Path
from typing import Any

from .calls import launch
from .conftest import TERMINAL, RunningAgent, polled, processes_of, stop_agent

WAIT_FOR_GO = 'until [ -e "$MESOS_SANDBOX/go" ]; do sleep 0.05; done'
READY = 'touch "$MESOS_SANDBOX/ready"'


def kill_with_grace(task_id: str, seconds: float) -> dict[str, Any]:
    policy = {"grace_period": {"nanoseconds": int(seconds * 1e9)}}
    return {
        "type": "KILL_TASK",
        "kill_task": {"task_id": {"value": task_id}, "kill_policy": policy},
    }


def terminal_updates(task: dict[str, Any]) -> list[str]:
    return [status["state"] for status in task["statuses"] if status["state"] in TERMINAL]


def wait_for_exit(pid: int) -> None:
    """Until the process ``pid`` (not our child) has exited: a pidfd turns readable."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        readable, _, _ = select.select([pidfd], [], [], 60)
        assert readable, f"process {pid} did not exit"
    finally:
        os.close(pidfd)


def supervisors_of(work_dir: Path) -> list[int]:
    marker = str(work_dir).encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
        except OSError:
            continue
        if b"dockyard.supervision.server" in text and marker in text:
            found.append(int(cmdline.parent.name))
    return found


async def test_real_ends_are_reported_once_after_an_agent_sigkill(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    commands = {
        "exits-3": f"{READY}; {WAIT_FOR_GO}; exit 3",
        "killed-by-signal": f"{READY}; {WAIT_FOR_GO}; kill -KILL $$",
        "ends-while-down": f'echo $$ > "$MESOS_SANDBOX/pid"; {READY}; {WAIT_FOR_GO}; exit 7',
        "heeds-sigterm": f"trap 'touch \"$MESOS_SANDBOX/term\"; exit 0' TERM; {READY}; "
        "while :; do sleep 0.05; done",
        "ignores-sigterm": f"trap '' TERM; {READY}; while :; do sleep 0.05; done",
    }
    running = {}
    for task_id, command in commands.items():
        await agent.call(launch(task_id, command))
        running[task_id] = await agent.wait_for_state(task_id, "TASK_RUNNING")
    sandboxes = {task_id: Path(task["sandbox_directory"]) for task_id, task in running.items()}
    for sandbox in sandboxes.values():
        await polled((sandbox / "ready").exists)  # each shell has set its traps

    stop_agent(agent.process, signal.SIGKILL)
    (sandboxes["ends-while-down"] / "go").touch()
    wait_for_exit(int((sandboxes["ends-while-down"] / "pid").read_text()))  # while no agent ran

    restarted: RunningAgent = await make_agent(work_dir=agent.work_dir)
    ended = await restarted.wait_for_state("ends-while-down", *TERMINAL)
    assert ended["state"] == "TASK_FAILED"
    assert ended["statuses"][-1]["message"] == "Container exited with status 7"
    for task_id in ("exits-3", "killed-by-signal", "heeds-sigterm", "ignores-sigterm"):
        assert (await restarted.tasks())[task_id]["state"] == "TASK_RUNNING", task_id

    (sandboxes["exits-3"] / "go").touch()
    (sandboxes["killed-by-signal"] / "go").touch()
    exited = await restarted.wait_for_state("exits-3", *TERMINAL)
    assert exited["statuses"][-1]["message"] == "Container exited with status 3"
    assert exited["state"] == "TASK_FAILED"
    signalled = await restarted.wait_for_state("killed-by-signal", *TERMINAL)
    assert signalled["state"] == "TASK_FAILED"
    assert signalled["statuses"][-1]["message"] == "Container terminated with signal Killed"

    await restarted.call(kill_with_grace("heeds-sigterm", 60))
    heeded = await restarted.wait_for_state("heeds-sigterm", *TERMINAL)
    assert heeded["state"] == "TASK_KILLED"
    assert (sandboxes["heeds-sigterm"] / "term").exists(), "its SIGTERM handler ran"
    assert heeded["statuses"][-1]["message"] == "Container exited with status 0"
    await restarted.call(kill_with_grace("ignores-sigterm", 0.5))
    forced = await restarted.wait_for_state("ignores-sigterm", *TERMINAL)
    assert forced["state"] == "TASK_KILLED"
    assert forced["statuses"][-1]["message"] == "Container terminated with signal Killed"

    tasks = await restarted.tasks()
    for task_id in commands:
        assert len(terminal_updates(tasks[task_id])) == 1, (task_id, tasks[task_id]["statuses"])

    stop_agent(restarted.process)
    assert processes_of(agent.work_dir) == [], "no task process is left"
    assert supervisors_of(agent.work_dir) == [], "no supervisor is left"
