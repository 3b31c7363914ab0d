"""What the agent (root) writes or removes in a sandbox stays in it, whatever links the task
(``nobody``) plants there: real agent, real ``mesos`` tasks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import RunningAgent, needs_root
from .health import CHECK_TIMING
from .test_files_confinement import launch

pytest.importorskip("dockyard_mesos")

pytestmark = [pytest.mark.root, needs_root]

MESOS = "--containerizers=mesos"


@pytest.fixture
def victim(public_dir: Path) -> Path:
    """A root-owned file outside every sandbox that a task would love to own."""
    path = public_dir / "victim"
    path.write_text("untouched\n")
    path.chmod(0o644)
    return path


def unchanged(victim: Path) -> bool:
    status = victim.stat()
    return victim.read_text() == "untouched\n" and (status.st_uid, status.st_gid) == (0, 0)


async def test_a_command_health_check_never_writes_through_a_planted_stdout_link(
    public_dir: Path,
    victim: Path,
    make_agent,
) -> None:
    agent: RunningAgent = await make_agent(MESOS, work_dir=public_dir / "work")
    plant = f"rm stdout stderr; ln -s {victim} stdout; ln -s {victim} stderr; exec sleep 600"
    body = launch("planter", plant, user="nobody")
    body["launch_task"]["task"]["health_check"] = {
        **CHECK_TIMING,
        "type": "COMMAND",
        "command": {"value": "echo check ran"},
    }
    response = await agent.call(body)
    assert response.status == 202, await response.text()

    async def ended_or_written_through() -> dict[str, Any]:
        while True:
            task: dict[str, Any] = (await agent.tasks())["planter"]
            if task["state"] == "TASK_KILLED" or not unchanged(victim):
                return task
            await asyncio.sleep(0.1)

    async with asyncio.timeout(60):
        task = await ended_or_written_through()
    assert unchanged(victim), "the check wrote through the link as root"
    assert task["state"] == "TASK_KILLED", "the check cannot run: it fails and kills the task"
    assert task["statuses"][-1]["healthy"] is False


async def test_removing_a_standalone_container_leaves_what_its_links_point_to(
    public_dir: Path,
    victim: Path,
    make_agent,
) -> None:
    agent: RunningAgent = await make_agent(MESOS, work_dir=public_dir / "work")
    cid = {"value": "linker"}
    launched = await agent.call(
        {
            "type": "LAUNCH_CONTAINER",
            "launch_container": {
                "container_id": cid,
                "command": {"value": f"ln -s {victim.parent} outside; ln -s {victim} file"},
            },
        }
    )
    assert launched.status == 200, await launched.text()
    await agent.call_json({"type": "WAIT_CONTAINER", "wait_container": {"container_id": cid}})
    sandbox = agent.work_dir / "containers" / "linker"
    assert (sandbox / "outside").is_symlink()
    removed = await agent.call(
        {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": cid}}
    )
    assert removed.status == 200
    assert not sandbox.exists()
    assert unchanged(victim)
    assert sorted(os.listdir(victim.parent)) == ["victim", "work"]
