"""``dockyard launch`` with the native containerizer: a task with its own executor, which
the one-shot run serves the executor API to, and a command task."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import kill_leftovers

pytest.importorskip("dockyard_mesos")

EXECUTOR = Path(__file__).parent / "stdlib_executor.py"
FINISHED = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]

PROBE = """
import json, os, urllib.error, urllib.request
base = "http://" + os.environ["MESOS_AGENT_ENDPOINT"]
print("endpoint", os.environ["MESOS_AGENT_ENDPOINT"])
for path in ("/api/v1", "/api/v1/executor"):
    request = urllib.request.Request(base + path, data=json.dumps(dict(type="GET_HEALTH")).encode())
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        print(path, error.code)
"""
"""Run by the task, with its executor's environment: what does the endpoint answer?
(No single quote in it: it goes to ``sh -c`` in single quotes.)"""


def launch(work_dir: Path, task: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = work_dir.parent / "task.json"
    path.write_text(json.dumps(task))
    command = [sys.executable, "-m", "dockyard.cli", "launch", "--containerizers=mesos"]
    return subprocess.run(
        [*command, f"--work_dir={work_dir}", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def leftovers(work_dir: Path) -> list[str]:
    """Processes whose command line or environment names the work dir."""
    marker = str(work_dir).encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@pytest.fixture
def work_dir(tmp_path: Path) -> Any:
    work = tmp_path / "work"
    yield work
    kill_leftovers(work)


def test_launch_serves_the_executor_api_to_a_task_with_an_executor(work_dir: Path) -> None:
    command = f"{sys.executable} -c '{PROBE}'"
    task = {
        "name": "with-executor",
        "task_id": {"value": "t1"},
        "data": base64.b64encode(command.encode()).decode(),
        "executor": {
            "executor_id": {"value": "ex1"},
            "command": {"value": f"{sys.executable} {EXECUTOR}"},
            "shutdown_grace_period": {"nanoseconds": 2_000_000_000},
        },
    }
    result = launch(work_dir, task)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == FINISHED
    sandbox = Path(result.stderr.split("Sandbox: ")[1].split()[0])
    output = dict(line.split(" ", 1) for line in (sandbox / "stdout").read_text().splitlines())
    host, _, port = output["endpoint"].partition(":")
    assert host == "127.0.0.1"
    assert output["/api/v1"] == "404", "only the executor API is served"
    assert output["/api/v1/executor"] == "401", "and it wants an executor's token"
    with pytest.raises(ConnectionRefusedError):  # no longer served once the launch ended
        socket.create_connection((host, int(port)), timeout=5).close()
    assert leftovers(work_dir) == [], "the executor and the supervisor are gone"


def test_launch_of_a_native_command_task_returns_when_it_ends(work_dir: Path) -> None:
    """A task ending just as the run stops must not keep the run waiting (the GC's wait)."""
    task = {"name": "quick", "task_id": {"value": "t1"}, "command": {"value": "true"}}
    for _ in range(3):
        result = launch(work_dir, task)
        assert result.returncode == 0, result.stdout + result.stderr
        assert [line.split()[0] for line in result.stdout.splitlines()] == FINISHED
    assert "MESOS_AGENT_ENDPOINT" not in os.environ
