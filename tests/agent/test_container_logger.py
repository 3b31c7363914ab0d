"""``--container_logger=logrotate`` on a real agent: flags, a task's overrides, /files, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.rotated import lines, lines_command, retained

from .conftest import RunningAgent, stop_agent

pytest.importorskip("dockyard_mesos")

LOGROTATE = ("--containerizers=mesos", "--container_logger=logrotate", "--logrotate_max_files=2")


def launch(task_id: str, command: str, environment: dict[str, str]) -> dict[str, Any]:
    variables = [{"name": name, "value": value} for name, value in environment.items()]
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": command, "environment": {"variables": variables}},
    }
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}


async def test_a_tasks_rotated_files_survive_an_agent_sigkill_and_are_served_by_files(
    make_agent,
) -> None:
    agent: RunningAgent = await make_agent(*LOGROTATE)
    command = (
        f"{lines_command(1, 20_000)}; until [ -e go ]; do sleep 0.02; done; "
        f"{lines_command(20_001, 30_000)}"
    )
    overrides = {
        "CONTAINER_LOGGER_MAX_STDOUT_SIZE": "64KB",
        "CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS": "missingok\nrotate 50",
    }
    await agent.call(launch("chatty", command, overrides))
    sandbox = Path((await agent.wait_for_state("chatty", "TASK_RUNNING"))["sandbox_directory"])
    stop_agent(agent.process, signal.SIGKILL)
    (sandbox / "go").touch()  # the rest is written while no agent runs

    restarted: RunningAgent = await make_agent(*LOGROTATE, work_dir=agent.work_dir)
    assert (await restarted.wait_for_state("chatty", "TASK_FINISHED"))["state"] == "TASK_FINISHED"
    stdout, sizes = retained(sandbox, "stdout")
    assert stdout == lines(1, 30_000), "every line once, in order"
    assert len(sizes) == 46, "the task's rotate 50 and 64KB, not the agent's 2 files"
    assert all(size <= 65536 for size in sizes)

    async with restarted.session.get(
        f"{restarted.url}/files/browse", params={"path": str(sandbox)}
    ) as response:
        listed = {Path(entry["path"]).name: entry["size"] for entry in await response.json()}
    assert listed["stdout.45"] == 65536
    params = {"path": str(sandbox / "stdout.45"), "offset": "0", "length": "100"}
    async with restarted.session.get(f"{restarted.url}/files/read", params=params) as response:
        assert (await response.json())["data"] == lines(1, 1).decode()


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("CONTAINER_LOGGER_MAX_STDERR_SIZE", "10", "invalid byte size '10'"),
        ("CONTAINER_LOGGER_MAX_STDOUT_SIZE", "1KB", "must be at least 4KB"),
        ("CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS", "compress", "unsupported logrotate option"),
        ("CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS", "rotate -1", "'rotate' takes a count"),
        ("CONTAINER_LOGGER_MAX_STDOUT_SIZ", "1MB", "unknown container logger setting"),
    ],
)
async def test_a_bad_setting_in_a_tasks_environment_fails_it_naming_the_variable(
    make_agent, variable: str, value: str, reason: str
) -> None:
    agent: RunningAgent = await make_agent(*LOGROTATE)
    await agent.call(launch("bad", "echo never", {variable: value}))
    task = await agent.wait_for_state("bad", "TASK_FAILED")
    status = task["statuses"][-1]
    assert status["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert variable in status["message"]
    assert reason in status["message"]
    assert (await agent.call_json({"type": "GET_HEALTH"}))["get_health"]["healthy"]


@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        ("--container_logger=journald", "Unknown container logger in --container_logger: journald"),
        ("--logrotate_max_stdout_size=1KB", "--logrotate_max_stdout_size: must be at least 4KB"),
        ("--logrotate_stderr_options=postrotate", "unsupported logrotate option 'postrotate'"),
        ("--logrotate_max_files=-1", "--logrotate_max_files: must not be negative"),
    ],
)
def test_bad_logger_flags_stop_the_agent_at_start(tmp_path: Path, flag: str, reason: str) -> None:
    logger = [] if flag.startswith("--container_logger") else ["--container_logger=logrotate"]
    flags = ["--containerizers=mesos", *logger, flag]
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "agent", "--port=0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKYARD_WORK_DIR": str(tmp_path / "work")},
    )
    assert result.returncode == 1
    assert reason in result.stderr
    if "journald" in flag:
        assert "installed: logrotate, sandbox" in result.stderr
