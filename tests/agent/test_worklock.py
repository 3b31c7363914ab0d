"""One agent per work_dir: a second agent or launch fails at once, naming the holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .conftest import RunningAgent, stop_agent


def dockyard(*args: str, work_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli", *args, f"--work_dir={work_dir}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )


def task_file(tmp_path: Path) -> str:
    task = {"name": "t", "task_id": {"value": "t1"}, "command": {"value": "echo ran"}}
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    return str(path)


async def test_a_second_agent_or_launch_on_a_locked_work_dir_fails_naming_the_holder(
    make_agent, tmp_path: Path
) -> None:
    first: RunningAgent = await make_agent()
    holder = f"(pid {first.process.pid})"

    second = dockyard("agent", "--containerizers=sample", "--port=0", work_dir=first.work_dir)
    assert second.returncode == 1
    assert holder in second.stderr
    assert f"--work_dir={first.work_dir}" in second.stderr

    launch = dockyard(
        "launch", "--containerizers=sample", task_file(tmp_path), work_dir=first.work_dir
    )
    assert launch.returncode == 1
    assert holder in launch.stderr
    assert "TASK_" not in launch.stdout, "nothing ran"

    assert first.process.poll() is None, "the holder keeps running"
    assert (await first.call_json({"type": "GET_HEALTH"}))["get_health"]["healthy"]


async def test_the_lock_dies_with_a_sigkilled_holder(make_agent, tmp_path: Path) -> None:
    first: RunningAgent = await make_agent()
    stop_agent(first.process, signal.SIGKILL)

    launch = dockyard(
        "launch", "--containerizers=sample", task_file(tmp_path), work_dir=first.work_dir
    )
    assert launch.returncode == 0, launch.stderr
    restarted: RunningAgent = await make_agent(work_dir=first.work_dir)
    assert (await restarted.call_json({"type": "GET_HEALTH"}))["get_health"]["healthy"]


async def test_agents_on_different_work_dirs_do_not_block_each_other(
    make_agent, tmp_path: Path
) -> None:
    await make_agent()
    other: RunningAgent = await make_agent(work_dir=tmp_path / "other")
    assert other.process.poll() is None
