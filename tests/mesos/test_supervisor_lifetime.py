"""When the supervisor exits: at once when its last client leaves and no task runs, never
while a task does (an agent that dies must find it still there)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psutil
from dockyard.containers import RecoveredContainer

from tests.mesos.harness import STATE, launch, make_config, shell, until
from tests.mesos.test_recovery import REPOSITORY, WAIT_FOR_GO, crash_after_launching


def supervisors(work_dir: Path) -> list[int]:
    """Live supervisor processes of a work dir (a zombie has exited: not counted)."""
    state = str(work_dir / STATE)
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if "dockyard.supervision.server" in cmdline and state in cmdline:
            found.append(process.pid)
    return found


def test_no_supervisor_is_left_after_a_one_shot_launch(tmp_path, work_dir):
    task = {"name": "once", "task_id": {"value": "once"}, "command": {"value": "echo hi"}}
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps(task))
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard.cli",
            "launch",
            "--containerizers=mesos",
            f"--work_dir={work_dir}",
            str(task_file),
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert launched.returncode == 0, launched.stderr
    assert "TASK_FINISHED" in launched.stdout
    assert (work_dir / STATE / "supervisor.log").exists()  # one did run
    assert supervisors(work_dir) == []


async def test_stop_with_nothing_running_ends_the_supervisor(mesos, work_dir):
    config, _ = await launch(mesos, work_dir, "done", shell("true"))
    await mesos.wait(config.container_id)
    running = supervisors(work_dir)
    assert len(running) == 1
    await mesos.stop()
    assert supervisors(work_dir) == []


async def test_stop_with_a_task_running_keeps_the_supervisor(start_containerizer, work_dir):
    first = await start_containerizer()
    config, _ = await launch(first, work_dir, "lasting", shell("echo > ready; exec sleep 600"))
    await until((config.sandbox / "ready").exists)
    running = supervisors(work_dir)
    await first.stop()
    assert supervisors(work_dir) == running

    second = await start_containerizer()
    await second.recover([])  # not checkpointed: an orphan, killed
    assert supervisors(work_dir) == running
    await second.stop()
    assert supervisors(work_dir) == []


async def test_an_agent_killed_while_tasks_run_finds_its_supervisor(
    start_containerizer, work_dir, agent_id
):
    handles = await crash_after_launching(work_dir, agent_id, running=WAIT_FOR_GO.format(code=4))
    running = supervisors(work_dir)
    assert len(running) == 1
    mesos = await start_containerizer()
    config = make_config(work_dir, "running", shell(""))
    recovered = RecoveredContainer(config=config, handle=handles["running"])
    assert await mesos.recover([recovered]) == [config.container_id]
    assert supervisors(work_dir) == running
    await mesos.destroy(config.container_id, timedelta(0))
