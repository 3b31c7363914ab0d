"""``dockyard launch --containerizers=docker`` leaves no container behind unless told to."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import APIClient
from dockyard_docker import naming

from tests.docker.configs import TEST_LABEL, TEST_LABEL_VALUE
from tests.docker_engine import remove_containers


def write_task(path: Path, image: str, command: str, task_id: str = "t1") -> str:
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": command},
        "container": {"type": "DOCKER", "docker": {"image": image}},
        "labels": {"labels": [{"key": TEST_LABEL, "value": TEST_LABEL_VALUE}]},
    }
    path.write_text(json.dumps(task))
    return str(path)


def launch_command(work_dir: Path, task: str, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dockyard.cli",
        "launch",
        "--containerizers=docker",
        f"--work_dir={work_dir}",
        *flags,
        task,
    ]


def launch(work_dir: Path, task: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        launch_command(work_dir, task, *flags), capture_output=True, text=True, timeout=120
    )


class WorkDir:
    def __init__(self, path: Path, api: APIClient) -> None:
        self.path = path
        self.api = api

    @property
    def agent_id(self) -> str:
        return (self.path / "meta" / "agent_id").read_text().strip()

    def containers(self) -> list[dict[str, Any]]:
        label = f"{naming.AGENT_LABEL}={self.agent_id}"
        return list(self.api.containers(all=True, filters={"label": label}))

    def removals(self) -> dict[str, float]:
        path = self.path / "meta" / "plugins" / "docker" / "removals.json"
        return dict(json.loads(path.read_text()))


@pytest.fixture
def work(tmp_path: Path, docker_api: APIClient) -> Iterator[WorkDir]:
    work = WorkDir(tmp_path / "work", docker_api)
    yield work
    if (work.path / "meta" / "agent_id").exists():
        remove_containers(docker_api, f"{naming.AGENT_LABEL}={work.agent_id}")


def sandbox_of(result: subprocess.CompletedProcess[str]) -> Path:
    return Path(result.stderr.split("Sandbox: ")[1].split()[0])


def test_a_one_shot_launch_removes_its_container_once_its_output_is_written(
    work: WorkDir, busybox_image: str, tmp_path: Path
) -> None:
    task = write_task(tmp_path / "task.json", busybox_image, "echo out; echo err >&2; exit 3")
    result = launch(work.path, task)
    assert result.returncode == 3, result.stderr
    sandbox = sandbox_of(result)
    assert (sandbox / "stdout").read_text() == "out\n"
    assert (sandbox / "stderr").read_text() == "err\n"
    assert work.containers() == []
    assert work.removals() == {}


def test_a_killed_one_shot_launch_removes_its_container_too(
    work: WorkDir, busybox_image: str, tmp_path: Path
) -> None:
    task = write_task(tmp_path / "task.json", busybox_image, "exec sleep 1000")
    process = subprocess.Popen(
        launch_command(work.path, task),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("TASK_RUNNING"):
                break
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert work.containers() == []


def test_a_kept_container_is_removed_by_the_next_launch_once_its_delay_passed(
    work: WorkDir, busybox_image: str, tmp_path: Path
) -> None:
    first = launch(
        work.path,
        write_task(tmp_path / "a.json", busybox_image, "true", "a"),
        "--docker_remove_delay=2secs",
    )
    assert first.returncode == 0, first.stderr
    [kept] = work.containers()
    assert kept["State"] == "exited"
    due = work.removals()[kept["Id"]]
    while time.time() <= due:  # the delay is what is being tested: wait for it to pass
        time.sleep(due - time.time() + 0.01)

    second = launch(work.path, write_task(tmp_path / "b.json", busybox_image, "true", "b"))
    assert second.returncode == 0, second.stderr
    assert work.containers() == []


def test_an_explicit_delay_keeps_the_container(
    work: WorkDir, busybox_image: str, tmp_path: Path
) -> None:
    task = write_task(tmp_path / "task.json", busybox_image, "true")
    result = launch(work.path, task, "--docker_remove_delay=1hrs")
    assert result.returncode == 0, result.stderr
    [kept] = work.containers()
    assert work.removals()[kept["Id"]] > time.time() + 3000
