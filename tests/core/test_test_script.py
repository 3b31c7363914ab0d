"""``scripts/test``, the README's test command: it says what it does, installs what is
missing, skips what is done, reports a run with no test, and tells a user without root what
is missing."""

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


NO_TEST = ("tests/flags/test_units.py", "-n", "0", "-k", "no_such_test", "-p", "no:cacheprovider")
"""pytest arguments that select nothing: the script's own steps are what is tested."""

needs_root_and_docker = pytest.mark.skipif(
    not (ROOT and docker_answers()), reason="needs root and a Docker engine"
)


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, timeout=600, env=env or dict(os.environ)
    )


def steps(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("==> ")]


@pytest.mark.root
@needs_root_and_docker
def test_a_run_with_no_test_is_reported_and_not_a_success() -> None:
    """Everything is set up already here (this suite runs), so each step only says so."""
    result = run_script(*NO_TEST)
    assert result.returncode == 5
    said = steps(result)
    assert said[:2] == ["==> system packages: all installed", "==> Docker engine: answering"]
    assert said[2].startswith(("==> Python distributions: installed", "==> installing the four"))
    assert "scripts/test: pytest ran no test (exit 5)" in result.stderr


@pytest.mark.root
@needs_root_and_docker
def test_missing_packages_are_installed_with_apt(tmp_path: Path) -> None:
    """dpkg says debootstrap is missing: the script installs it, and only it (apt-get is a
    stand-in that records its arguments, so the machine is not changed)."""
    shims = tmp_path / "bin"
    shims.mkdir()
    log = tmp_path / "apt-get.log"
    (shims / "dpkg-query").write_text(
        "#!/bin/sh\n"
        "for last; do :; done\n"  # the package is the last argument
        'if [ "$last" = debootstrap ]; then echo "unknown ok not-installed"\n'
        'else echo "install ok installed"; fi\n'
    )
    (shims / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    result = run_script(*NO_TEST, env={**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"})
    assert result.returncode == 5, result.stderr
    assert steps(result)[0] == "==> installing Debian packages: debootstrap"
    assert log.read_text().splitlines() == [
        "update -qq",
        "install -y -qq --no-install-recommends debootstrap",
    ]


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
