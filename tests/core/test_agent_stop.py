"""``Agent.stop()`` leaves nothing running: no task, timer, health check or watcher of
the agent's goes on to call a plugin or write a status after it returns.

A restarted agent in the same process (``AgentDriver.restart``) would race anything
the stopped one left behind.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from dockyard import hookimpl
from dockyard.dispatcher import container_key
from dockyard.messages import (
    CheckType,
    CommandInfo,
    ContainerID,
    DurationInfo,
    ExecutorID,
    ExecutorInfo,
    HealthCheck,
    TaskState,
)

from .scripted import ScriptedContainerizer, host_with
from .test_agent import a_task, make_agent, settle

DEADLINES = 3.0
"""Seconds after launch when the task's max_completion_time and the executor's
registration timeout expire: after stop(), if the agent got there in time."""


class ProbedContainerizer(ScriptedContainerizer):
    """Also runs COMMAND health checks: each probe is a call the test can count."""

    def __init__(self) -> None:
        super().__init__()
        self.probed = asyncio.Event()

    @hookimpl
    async def exec_in_container(
        self, container_id: ContainerID, command: CommandInfo, time_limit: timedelta
    ) -> int | None:
        self.calls.append(("exec_in_container", container_key(container_id)))
        if sum(call[0] == "exec_in_container" for call in self.calls) >= 2:
            self.probed.set()
        return 0


def stored(meta_dir: Path) -> dict[str, bytes]:
    """Everything the agent persisted."""
    return {str(path): path.read_bytes() for path in sorted(meta_dir.rglob("*")) if path.is_file()}


async def test_stop_leaves_nothing_running(tmp_path: Path) -> None:
    ours = asyncio.all_tasks()
    plugin = ProbedContainerizer()
    agent = make_agent(
        tmp_path,
        host_with(a=plugin),
        "--containerizers=a",
        f"--executor_registration_timeout={DEADLINES}secs",
    )
    await agent.start()
    launched_at = time.monotonic()
    checked = await agent.launch_task(
        a_task(
            "checked",
            max_completion_time=DurationInfo(nanoseconds=int(DEADLINES * 1e9)),
            health_check=HealthCheck(
                type=CheckType.COMMAND,
                command=CommandInfo(value="true"),
                delay_seconds=0,
                interval_seconds=0.05,
                grace_period_seconds=0,
            ),
        )
    )
    executor = ExecutorInfo(executor_id=ExecutorID(value="e"), command=CommandInfo(value="x"))
    served = await agent.launch_task(a_task("served", command=None, executor=executor))
    await settle(agent, checked, TaskState.TASK_RUNNING)
    await plugin.probed.wait()  # the health check runs
    assert ("launch", container_key(served.container_id)) in plugin.calls  # watched
    assert checked.state is TaskState.TASK_RUNNING, "its deadline is still ahead"
    assert served.state is TaskState.TASK_STAGING, "its executor's deadline is still ahead"

    await agent.stop()
    assert asyncio.all_tasks() - ours == set()
    calls, statuses, files = list(plugin.calls), list(checked.statuses), stored(agent.meta_dir)
    # A negative can only be watched for a while: past both deadlines, and many
    # health-check intervals.
    await asyncio.sleep(DEADLINES + 0.5 - (time.monotonic() - launched_at))
    assert plugin.calls == calls, "no plugin call after stop()"
    assert checked.statuses == statuses
    assert stored(agent.meta_dir) == files, "no status written after stop()"
