"""``dockyard launch`` and ``dockyard plugins`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import BROKEN_PLUGINS, SAMPLE_PLUGINS


@pytest.fixture
def dockyard(install_plugins: Callable[[Path], None], tmp_path: Path):
    install_plugins(SAMPLE_PLUGINS)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DOCKYARD_WORK_DIR": str(tmp_path / "work")},
        )

    return run


def task_json(command: str, task_id: str = "t1") -> str:
    return json.dumps({"name": "t", "task_id": {"value": task_id}, "command": {"value": command}})


def write_task(tmp_path: Path, command: str) -> str:
    path = tmp_path / "task.json"
    path.write_text(task_json(command))
    return str(path)


def test_finished_task_exits_zero(dockyard, tmp_path: Path) -> None:
    result = dockyard("launch", "--containerizers=sample", write_task(tmp_path, "echo hello"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_FINISHED",
    ]
    sandbox = Path(result.stderr.split("Sandbox: ")[1].split()[0])
    assert (sandbox / "stdout").read_text() == "hello\n"


def test_failed_task_exits_with_its_exit_code(dockyard, tmp_path: Path) -> None:
    result = dockyard("launch", "--containerizers=sample", write_task(tmp_path, "exit 3"))
    assert result.returncode == 3
    assert "Container exited with status 3" in result.stdout


def test_signalled_task_exits_one(dockyard, tmp_path: Path) -> None:
    result = dockyard("launch", "--containerizers=sample", write_task(tmp_path, "kill -9 $$"))
    assert result.returncode == 1
    assert "TASK_FAILED" in result.stdout
    assert "Killed" in result.stdout


def test_json_prints_one_task_status_per_line(dockyard, tmp_path: Path) -> None:
    result = dockyard("launch", "--containerizers=sample", "--json", "-", stdin=task_json("true"))
    assert result.returncode == 0, result.stderr
    statuses = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["state"] for s in statuses][-1] == "TASK_FINISHED"
    assert all(s["task_id"] == {"value": "t1"} and s["source"] == "SOURCE_AGENT" for s in statuses)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "task"),
        ('{"name": "t", "command": {"value": "true"}}', "task.task_id"),
        (
            '{"name": "t", "task_id": {"value": "a/b"}, "command": {"value": "true"}}',
            "task.task_id",
        ),
        ('{"name": "t", "task_id": {"value": ".."}, "command": {"value": "true"}}', "task.task_id"),
        (
            '{"name": "t", "task_id": {"value": "x"}, "command": {"shell": "maybe"}}',
            "task.command.shell",
        ),
        (
            '{"name": "t", "task_id": {"value": "x"}, "command": {}, "container": {"type": "RKT"}}',
            "task.container.type",
        ),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(
    dockyard, tmp_path: Path, body: str, field: str
) -> None:
    result = dockyard("launch", "--containerizers=sample", "-", stdin=body)
    assert result.returncode == 1
    assert f"invalid task: {field}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "work").exists()


def test_unknown_containerizer_lists_the_installed_ones(dockyard, tmp_path: Path) -> None:
    result = dockyard("launch", "--containerizers=nope", write_task(tmp_path, "true"))
    assert result.returncode == 1
    assert "Unknown containerizer(s) in --containerizers: nope" in result.stderr
    assert "sample" in result.stderr


def test_unknown_flag_is_a_usage_error(dockyard, tmp_path: Path) -> None:
    result = dockyard("launch", "--containerizer=sample", write_task(tmp_path, "true"))
    assert result.returncode == 2
    assert "--containerizer" in result.stderr


def test_plugins_lists_distribution_version_and_hooks(
    dockyard, install_plugins: Callable[[Path], None]
) -> None:
    install_plugins(BROKEN_PLUGINS)
    result = dockyard("plugins")
    assert result.returncode == 1, "a plugin is broken"
    (sample,) = [line for line in result.stdout.splitlines() if line.startswith("sample ")]
    assert "dockyard-sample" in sample
    assert " 0.1 " in sample
    assert "launch" in sample
    assert "BROKEN: plugin 'broken'" in result.stdout


def test_help_lists_flags_with_defaults_and_owners(dockyard) -> None:
    result = dockyard("--help")
    assert result.returncode == 0
    assert "--containerizers" in result.stdout
    assert "--sample_shell" in result.stdout
    assert "sample" in result.stdout


def misspelled_task() -> str:
    task = json.loads(task_json("true"))
    task["resorces"] = []
    task["container"] = {"type": "MESOS", "hostnme": "h"}
    return json.dumps(task)


MISSPELLED = [
    "dockyard: warning: task.resorces: unknown field (did you mean 'resources'?)",
    "dockyard: warning: task.container.hostnme: unknown field (did you mean 'hostname'?)",
]


@pytest.mark.parametrize("json_output", [[], ["--json"]], ids=["text", "json"])
def test_unknown_fields_are_warned_about_on_stderr_first(dockyard, json_output: list[str]) -> None:
    result = dockyard(
        "launch", "--containerizers=sample", *json_output, "-", stdin=misspelled_task()
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[:2] == MISSPELLED
    assert "unknown field" not in result.stdout
    if json_output:
        assert [json.loads(line)["state"] for line in result.stdout.splitlines()][-1] == (
            "TASK_FINISHED"
        )


def test_strict_json_makes_unknown_fields_fatal(dockyard, tmp_path: Path) -> None:
    result = dockyard(
        "launch", "--containerizers=sample", "--strict_json", "-", stdin=misspelled_task()
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "dockyard: invalid task: task.resorces: unknown field (did you mean 'resources'?); "
        "task.container.hostnme: unknown field (did you mean 'hostname'?)"
    ]
    assert not (tmp_path / "work").exists()
