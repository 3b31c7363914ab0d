"""The ledger's size limits apply to what clients send, not to what the agent makes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard import hookimpl
from dockyard.containers import ContainerConfig, Launched
from dockyard.ledger import MAX_STATUS_BYTES
from dockyard.messages import TaskState

from .scripted import ScriptedContainerizer, host_with
from .test_agent import a_task, make_agent, settle


class LargeInspection(ScriptedContainerizer):
    """Sends TASK_RUNNING ``data`` beyond the executor update limit, as ``docker
    inspect`` of a task with a large environment does."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        launched = await super().launch(config)
        launched.data = bytes(MAX_STATUS_BYTES)
        return launched


async def test_an_agent_made_update_beyond_the_executor_limit_is_kept(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, host_with(a=LargeInspection()), "--containerizers=a")
    await agent.start()
    try:
        record = await agent.launch_task(a_task())
        async with asyncio.timeout(30):
            await settle(agent, record, TaskState.TASK_RUNNING)
        assert record.statuses[-1].data == bytes(MAX_STATUS_BYTES)
    finally:
        await agent.stop()
