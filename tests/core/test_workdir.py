"""A work_dir the agent cannot use is one clear line and exit 1, never a traceback.

Each case runs the real ``dockyard agent`` and ``dockyard launch`` in a subprocess. As root,
the unprivileged cases drop the capabilities that let root write anywhere (``setpriv``)
and the read-only case mounts a read-only tmpfs in a private mount namespace (``unshare``),
so nothing is left mounted whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ..conftest import SAMPLE_PLUGINS

ROOT = os.geteuid() == 0
NOBODY = 65534
DROP_ROOT_WRITES = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
"""Root without the capabilities that bypass file permissions."""
AS_NOBODY = [
    "setpriv",
    f"--reuid={NOBODY}",
    f"--regid={NOBODY}",
    "--clear-groups",
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",  # to read the interpreter under /root, nothing more
    "--",
]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(params=["agent", "launch"])
def dockyard(
    request: pytest.FixtureRequest, tmp_path: Path, install_plugins: Callable[[Path], None]
) -> Run:
    """Runs ``dockyard agent`` or ``dockyard launch`` with the given work_dir flags."""
    install_plugins(SAMPLE_PLUGINS)
    task = tmp_path / "task.json"
    task.write_text('{"name": "t", "task_id": {"value": "t1"}, "command": {"value": "true"}}')
    task.chmod(0o644)
    command = request.param
    args = ["--port=0"] if command == "agent" else [str(task)]

    def run(
        *flags: str, prefix: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        dockyard = [sys.executable, "-m", "dockyard.cli", command, "--containerizers=sample"]
        return subprocess.run(
            [*prefix, *dockyard, *flags, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
        )

    return run


def assert_one_clear_line(result: subprocess.CompletedProcess[str], work_dir: str, problem: str):
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"dockyard: cannot use work_dir {work_dir}: "), lines[0]
    assert problem in lines[0]
    assert "--work_dir=DIR" in lines[0]


def test_work_dir_under_a_file(dockyard: Run, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    work_dir = tmp_path / "file" / "work"
    result = dockyard(f"--work_dir={work_dir}")
    assert_one_clear_line(result, str(work_dir), f"{tmp_path / 'file'} is a file, not a directory")


def test_work_dir_that_is_a_file(dockyard: Run, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    work_dir.write_text("")
    result = dockyard(f"--work_dir={work_dir}")
    assert_one_clear_line(result, str(work_dir), f"{work_dir} is a file, not a directory")


@pytest.mark.root
@pytest.mark.skipif(not (ROOT and shutil.which("unshare")), reason="needs root to mount")
def test_read_only_work_dir(dockyard: Run, tmp_path: Path) -> None:
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    work_dir = mount_point / "work"
    prefix = ["unshare", "--mount", "--propagation=private", "sh", "-c"]
    script = f'mount -t tmpfs -o ro tmpfs "{mount_point}" && exec "$@"'
    result = dockyard(f"--work_dir={work_dir}", prefix=[*prefix, script, "sh"])
    assert_one_clear_line(result, str(work_dir), f"{work_dir} is on a read-only file system")


@pytest.mark.skipif(ROOT and not shutil.which("setpriv"), reason="needs setpriv as root")
def test_work_dir_of_another_user(dockyard: Run, tmp_path: Path) -> None:
    """As when an agent ran as root first and then as a user: meta/ is not the user's."""
    work_dir = tmp_path / "work"
    (work_dir / "meta").mkdir(parents=True)
    (work_dir / "meta" / "agent_id").write_text("an-agent-S0")
    (work_dir / "meta").chmod(0o555)
    if ROOT:
        os.chown(work_dir / "meta", NOBODY, NOBODY)
    try:
        result = dockyard(f"--work_dir={work_dir}", prefix=DROP_ROOT_WRITES if ROOT else ())
    finally:
        (work_dir / "meta").chmod(0o755)
    assert_one_clear_line(result, str(work_dir), f"cannot write to {work_dir / 'meta'}")


@pytest.mark.skipif(ROOT and not shutil.which("setpriv"), reason="needs setpriv as root")
def test_default_work_dir_of_a_user_without_a_home(dockyard: Run) -> None:
    """``nobody``'s home is /nonexistent: the default work_dir cannot be created."""
    env = {"HOME": "/nonexistent", "XDG_DATA_HOME": ""}
    work_dir = "/nonexistent/.local/share/dockyard"
    result = dockyard(env=env, prefix=AS_NOBODY if ROOT else ())
    assert_one_clear_line(result, work_dir, "cannot create /nonexistent: permission denied")
    assert "the default work_dir, under the home directory /nonexistent" in result.stderr


def test_help_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """``dockyard help | head -1``: the reader is gone before dockyard writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dockyard.cli", "help"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""
