"""A hello task outlives an agent SIGKILL and reports its real end to the restarted agent."""

from collections.abc import Callable
from pathlib import Path

from dockyard.messages import TaskInfo, TaskState
from dockyard.testing import AgentDriver, AgentProcess, ProcessSweeper
from dockyard_hello.plugin import HelloContainerizer

HELLO = {"dockyard.backend": "hello"}
WAIT_FOR_GO = 'until [ -e "$MESOS_SANDBOX/go" ]; do sleep 0.05; done'


async def test_a_task_survives_an_agent_sigkill(
    dockyard_work_dir: Path, make_task: Callable[..., TaskInfo]
) -> None:
    task = make_task(f"{WAIT_FOR_GO}; exit 3", labels=HELLO)
    async with ProcessSweeper():  # whatever happens, nothing outlives the test
        async with AgentProcess(dockyard_work_dir, ["--containerizers=hello"]) as crashing:
            await crashing.launch(task)  # returns once the task is TASK_RUNNING
            await crashing.sigkill()  # the agent dies; the task runs on

        restarted = AgentDriver(dockyard_work_dir, {"hello": HelloContainerizer()})
        await restarted.start()  # the agent recovers: `recover` reattaches the task
        try:
            await restarted.wait_for_state(task.task_id, TaskState.TASK_RUNNING)
            (restarted.task(task.task_id).sandbox / "go").touch()
            result = await restarted.result(task.task_id)
            result.assert_failed(message="Container exited with status 3").assert_exit_code(3)
        finally:
            await restarted.close()
