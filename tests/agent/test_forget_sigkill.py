"""A task that ends while the agent is SIGKILLed (after its exit, before the ledger write)
still reports its real exit after the restart: the ``mesos`` containerizer forgets the
supervisor's record of a task only once its terminal update is durable, and then does.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from dockyard.supervision.records import LOG_NAME, read_records

from .calls import launch
from .conftest import TERMINAL, RunningAgent, polled, stop_agent
from .test_subprocess_recovery import wait_for_exit

pytest.importorskip("dockyard_mesos")

FLAGS = ("--containerizers=mesos",)
ENDS_WHILE_DOWN = (
    'echo $$ > "$MESOS_SANDBOX/pid"; until [ -e "$MESOS_SANDBOX/go" ]; do sleep 0.05; done; exit 7'
)


def records(work_dir: Path, plugin: str = "mesos") -> list[str]:
    """The ids of the supervisor's task records on disk."""
    return list(read_records(work_dir / "meta" / "plugins" / plugin))


async def test_the_reference_subprocess_containerizer_forgets_ended_tasks(make_agent) -> None:
    """The sample plugin is a ``SubprocessContainerizer``: its supervisor keeps no record."""
    agent: RunningAgent = await make_agent("--containerizers=sample")
    for n in range(3):
        await agent.call(launch(f"done-{n}", f"exit {n}"))
    for n in range(3):
        await agent.wait_for_state(f"done-{n}", *TERMINAL)
    assert (agent.work_dir / "meta" / "plugins" / "sample" / LOG_NAME).exists()
    await polled(lambda: records(agent.work_dir, "sample") == [])
    stop_agent(agent.process)


async def test_an_exit_while_the_agent_is_down_is_reported_then_forgotten(make_agent) -> None:
    agent: RunningAgent = await make_agent(*FLAGS)
    await agent.call(launch("ends-while-down", ENDS_WHILE_DOWN))
    running = await agent.wait_for_state("ends-while-down", "TASK_RUNNING")
    sandbox = Path(running["sandbox_directory"])
    await polled((sandbox / "pid").exists)
    await agent.call(launch("finished", "exit 0"))
    await agent.wait_for_state("finished", *TERMINAL)
    await polled(lambda: len(records(agent.work_dir)) == 1)  # the finished one is forgotten

    stop_agent(agent.process, signal.SIGKILL)
    (sandbox / "go").touch()
    wait_for_exit(int((sandbox / "pid").read_text()))  # its exit is not in the ledger
    assert len(records(agent.work_dir)) == 1, "the supervisor keeps it for the restart"

    restarted: RunningAgent = await make_agent(*FLAGS, work_dir=agent.work_dir)
    ended = await restarted.wait_for_state("ends-while-down", *TERMINAL)
    assert ended["state"] == "TASK_FAILED"
    assert ended["statuses"][-1]["message"] == "Command exited with status 7"
    terminal = [s["state"] for s in ended["statuses"] if s["state"] in TERMINAL]
    assert terminal == ["TASK_FAILED"], "reported once"
    await polled(lambda: records(restarted.work_dir) == [])
    stop_agent(restarted.process)
