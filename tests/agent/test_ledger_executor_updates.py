"""An executor's update the ledger refuses changes nothing: the task goes on as before."""

from __future__ import annotations

import base64
import uuid

import pytest

from .calls import kill
from .conftest import RunningAgent
from .test_executors import executor_task

pytest.importorskip("dockyard_mesos")


async def test_an_oversized_executor_update_is_a_400_and_changes_nothing(make_agent) -> None:
    """Refused before it could mark the task as ending: it can still be killed."""
    agent: RunningAgent = await make_agent(
        "--containerizers=mesos", "--no-authenticate_http_executors"
    )
    assert (await agent.call(executor_task("t", "sleep 600"))).status == 202
    await agent.wait_for_state("t", "TASK_RUNNING")
    status = {
        "task_id": {"value": "t"},
        "state": "TASK_FINISHED",
        "source": "SOURCE_EXECUTOR",
        "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        "message": "x" * (300 << 10),
    }
    update = {
        "type": "UPDATE",
        "framework_id": {"value": "fw"},
        "executor_id": {"value": "ex1"},
        "update": {"status": status},
    }
    async with agent.session.post(f"{agent.url}/api/v1/executor", json=update) as response:
        assert response.status == 400, await response.text()
        assert "the limit is 256 KiB" in await response.text()
    assert (await agent.tasks())["t"]["state"] == "TASK_RUNNING"
    assert (await agent.call(kill("t"))).status == 202
    assert (await agent.wait_for_state("t", "TASK_KILLED"))["state"] == "TASK_KILLED"
