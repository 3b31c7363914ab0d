"""``examples/dockyard-hello-backend`` installed with pip, as a third party's package is.

It is installed once into a private ``--target`` folder put on PYTHONPATH, so nothing
outside the test's temporary directory changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "dockyard-hello-backend"
HELLO_LABEL = {"labels": [{"key": "dockyard.backend", "value": "hello"}]}


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean copy of the example (pip builds in the source folder)."""
    copy = tmp_path_factory.mktemp("example") / EXAMPLE.name
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(EXAMPLE, copy, ignore=ignore)
    return copy


@pytest.fixture(scope="module")
def site(example: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example pip-installed (without dependencies: dockyard is already here)."""
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(target), str(example)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def environment(site: Path | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


def dockyard(
    *args: str, site: Path | None, work_dir: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment(site), "DOCKYARD_WORK_DIR": str(work_dir)},
    )


def task(task_id: str, **fields: object) -> str:
    return json.dumps(
        {"name": task_id, "task_id": {"value": task_id}, "command": {"value": "true"}, **fields}
    )


def containerizer_of(work_dir: Path, task_id: str) -> str:
    """Who ran the task, as the agent checkpointed it."""
    with contextlib.closing(sqlite3.connect(work_dir / "meta" / "ledger.sqlite")) as ledger:
        row = ledger.execute("SELECT progress FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        raise AssertionError(f"no record of {task_id} in the ledger")
    return str(json.loads(row[0])["containerizer"])


@pytest.mark.slow
def test_plugins_lists_the_installed_backend(site: Path, tmp_path: Path) -> None:
    result = dockyard("plugins", site=site, work_dir=tmp_path)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("hello ")]
    assert line.split()[:4] == ["hello", "containerizer", "dockyard-hello-backend", "0.1.0"]
    assert "launch" in line


@pytest.fixture
def mesos_work_dir(tmp_path: Path) -> Iterator[Path]:
    """A work dir whose mesos supervisor (it outlives the agent) is stopped at the end."""
    pytest.importorskip("dockyard_mesos")
    from tests.mesos.harness import clean_up

    work_dir = tmp_path / "work"
    yield work_dir
    agent_id = work_dir / "meta" / "agent_id"
    clean_up(work_dir, agent_id.read_text().strip() if agent_id.exists() else None)


@pytest.mark.slow
def test_hello_takes_its_tasks_and_mesos_the_rest(site: Path, mesos_work_dir: Path) -> None:
    for task_id, fields, expected in (
        ("labelled", {"labels": HELLO_LABEL}, "hello"),
        ("plain", {}, "mesos"),
    ):
        result = dockyard(
            "launch",
            "--containerizers=hello,mesos",
            "-",
            site=site,
            work_dir=mesos_work_dir,
            stdin=task(task_id, **fields),
        )
        assert result.returncode == 0, result.stderr
        assert containerizer_of(mesos_work_dir, task_id) == expected
        sandbox = Path(result.stderr.split("Sandbox: ")[1].split()[0])
        greeted = (sandbox / "stdout").read_text().startswith("Hello from the hello backend!")
        assert greeted is (expected == "hello")


def test_without_the_package_hello_is_a_start_up_error(tmp_path: Path) -> None:
    result = dockyard(
        "launch", "--containerizers=hello", "-", site=None, work_dir=tmp_path, stdin=task("t")
    )
    assert result.returncode == 1
    assert "Unknown containerizer(s) in --containerizers: hello; installed:" in result.stderr
    assert not (tmp_path / "meta" / "ledger.sqlite").exists()


@pytest.mark.slow
def test_the_example_passes_its_own_tests(example: Path, site: Path) -> None:
    """Its tests use dockyard.testing and the conformance suite, as a third party's would."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=example,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment(site),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed" not in result.stdout
