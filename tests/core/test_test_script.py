"""``scripts/test``, the README's test command: it says what it does, skips what is done,
reports a run with no test, and tells a user without root what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "test"
ROOT = os.geteuid() == 0


def docker_answers() -> bool:
    docker = shutil.which("docker")
    return (
        docker is not None and subprocess.run([docker, "info"], capture_output=True).returncode == 0
    )


@pytest.mark.root
@pytest.mark.skipif(not (ROOT and docker_answers()), reason="needs root and a Docker engine")
def test_a_run_with_no_test_is_reported_and_not_a_success() -> None:
    """Everything is set up already here (this suite runs), so each step only says so."""
    result = subprocess.run(
        [
            SCRIPT,
            "tests/flags/test_units.py",
            "-n",
            "0",
            "-k",
            "no_such_test",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 5
    steps = [line for line in result.stderr.splitlines() if line.startswith("==> ")]
    assert steps[:2] == ["==> system packages: all installed", "==> Docker engine: answering"]
    assert steps[2].startswith(("==> Python distributions: installed", "==> installing the four"))
    assert "scripts/test: pytest ran no test (exit 5)" in result.stderr


@pytest.mark.root
@pytest.mark.skipif(not (ROOT and shutil.which("setpriv")), reason="needs root and setpriv")
def test_without_root_it_says_what_is_missing() -> None:
    """``nobody`` can neither install packages nor use dockerd: the script says what to do."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    result = subprocess.run(
        [*nobody, SCRIPT, "--collect-only"],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"},
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("scripts/test: ")
    assert "missing Debian packages" in last or "no Docker engine answers" in last
    assert "as root" in last
