"""No process outlives its task (issue 13): not one that left the task's session with
``setsid``, not one that was double-forked. They are SIGKILLed, and have exited, before the
task's end is reported, whether the task finished or was killed, and whichever way the
plugin tracks a task's processes: cgroups (the default for a root agent that can write
them) or its supervisor as a subreaper (``--launcher=posix``, and any agent that is not
root). Every process is found by pid and by a marker argument unique to the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from dockyard.containers import StartupError
from dockyard.messages import TaskState
from dockyard.supervision import leftovers
from dockyard_mesos.plugin import MesosContainerizer

from tests.mesos.conftest import StartContainerizer
from tests.mesos.harness import clean_up, launch, shell, until

ESCAPE = (
    "setsid sleep {marker}1 & echo $! > first; "
    "(setsid sh -c 'sleep {marker}2' & echo $! > second); "
    "until [ -s first ] && [ -s second ]; do sleep 0.01; done; "
)
"""The issue's example: one process in its own session, one double-forked (its parent, a
subshell, is gone before the task ends). Their pids land in ``first`` and ``second``."""

TERM_HANDLING_ESCAPEE = (
    '(setsid sh -c \'trap "echo > escapee_got_term; exit 0" TERM; echo $$ > first; '
    "while :; do sleep 0.01; done; : {marker}' &); "
    "trap 'until [ -e escapee_got_term ]; do sleep 0.01; done; exit 0' TERM; "
    "until [ -s first ]; do sleep 0.01; done; echo > ready; "
    "while :; do sleep 0.01; done"
)
"""A double-forked process in its own session that handles SIGTERM; the task waits for it."""


@pytest.fixture
def marker() -> Iterator[str]:
    """A ``sleep`` argument no other process has; its processes are SIGKILLed at the end."""
    value = f"788.{secrets.randbelow(10**9):09d}"
    try:
        yield value
    finally:
        for process in marked(value):
            process.kill()


def marked(marker: str) -> list[psutil.Process]:
    """Live processes with ``marker`` in their command line (a zombie has exited)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in cmdline):
            found.append(process)
    return found


def survivors(sandbox: Path, marker: str, *pid_files: str) -> list[str]:
    """What is still running of the task: the pids it wrote down, and its marked processes."""
    alive = [f"pid {pid}" for pid in (int((sandbox / name).read_text()) for name in pid_files)]
    alive = [text for text in alive if _running(int(text.split()[1]))]
    return alive + [f"{p.pid}: {' '.join(p.info['cmdline'])}" for p in marked(marker)]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(params=["cgroups", "subreaper"])
async def mesos(request: pytest.FixtureRequest, start_containerizer: StartContainerizer) -> Any:
    """The plugin with its default flags (cgroups, when root can write them), and with the
    fallback every agent gets without them, forced."""
    if request.param == "subreaper":
        return await start_containerizer("--launcher=posix")
    if os.geteuid() != 0:
        pytest.skip("only a root agent tracks tasks with cgroups")
    return await start_containerizer()


async def test_a_finished_task_leaves_no_process_behind(
    mesos: MesosContainerizer, work_dir: Path, marker: str
) -> None:
    script = ESCAPE.format(marker=marker) + "exit 0"
    config, _ = await launch(mesos, work_dir, "finishes", shell(script))
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.status == 0
    assert survivors(config.sandbox, marker, "first", "second") == []


async def test_a_killed_task_leaves_no_process_behind(
    mesos: MesosContainerizer, work_dir: Path, marker: str
) -> None:
    script = ESCAPE.format(marker=marker) + "echo > ready; sleep 600"
    config, _ = await launch(mesos, work_dir, "killed", shell(script))
    await until((config.sandbox / "ready").exists)
    termination = await mesos.destroy(config.container_id, timedelta(seconds=30))
    assert termination is not None
    assert termination.state is TaskState.TASK_KILLED
    assert survivors(config.sandbox, marker, "first", "second") == []


async def test_the_grace_period_sigterm_reaches_processes_that_escaped(
    mesos: MesosContainerizer, work_dir: Path, marker: str
) -> None:
    script = TERM_HANDLING_ESCAPEE.format(marker=marker)
    config, _ = await launch(mesos, work_dir, "graceful", shell(script))
    await until((config.sandbox / "ready").exists)
    termination = await mesos.destroy(config.container_id, timedelta(seconds=20))
    assert termination is not None
    assert (config.sandbox / "escapee_got_term").exists()
    assert termination.message == "Command exited with status 0"  # not SIGKILLed
    assert survivors(config.sandbox, marker, "first") == []


async def test_what_a_command_leaves_dies_with_it_or_with_its_task(
    mesos: MesosContainerizer, work_dir: Path, marker: str
) -> None:
    config, launched = await launch(mesos, work_dir, "checked", shell("echo > r; exec sleep 600"))
    await until((config.sandbox / "r").exists)
    check = shell(f"setsid sleep {marker}3 & echo $! > from_command")
    assert await mesos.exec_in_container(config.container_id, check, timedelta(seconds=30)) == 0
    if launched.handle["cgroups"] is None:  # a subreaper command: its leftovers die with it
        left = int((config.sandbox / "from_command").read_text())
        await until(lambda: not _running(left))
    await mesos.destroy(config.container_id, timedelta(seconds=30))
    assert survivors(config.sandbox, marker, "from_command") == []


async def test_the_default_tracks_tasks_in_cgroups_where_they_are_writable(
    start_containerizer: StartContainerizer, work_dir: Path, needs_root: None
) -> None:
    try:
        await start_containerizer("--launcher=linux")
    except StartupError as error:
        pytest.skip(f"no writable cgroups here: {error}")
    mesos = await start_containerizer()
    config, launched = await launch(mesos, work_dir, "tracked", shell("exit 0"))
    await mesos.wait(config.container_id)
    assert launched.handle["cgroups"] is not None


# -- an agent that is not root -------------------------------------------------------------


@pytest.fixture
def unprivileged_work_dir(agent_id: str) -> Iterator[Path]:
    """A work dir for an agent running as ``nobody`` (when the tests run as root)."""
    directory = Path(tempfile.mkdtemp(prefix="dockyard-mesos-nobody-"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        directory.chmod(0o755)
    try:
        yield directory
    finally:
        clean_up(directory, None)
        shutil.rmtree(directory)


def unprivileged_python() -> tuple[str, dict[str, str]]:
    """An interpreter ``nobody`` can run, and the environment that gives it our packages
    (not our standard library): ours, or else the system's of the same version (ours may
    live in a private home)."""
    ours = [p for p in sys.path if os.path.isdir(p) and not p.startswith(sys.base_prefix)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(ours)}
    if os.geteuid() != 0:
        return sys.executable, environment
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")):
        try:
            probe = subprocess.run(
                [python or version, "-c", "import dockyard.cli, dockyard_mesos"],
                env=environment,
                user="nobody",
                cwd="/",
                capture_output=True,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return python or version, environment
    pytest.skip(
        f"no {version} that nobody may run can import dockyard and its dependencies "
        "(e.g. they live under root's home); --launcher=posix is tested as root too"
    )


@pytest.fixture
async def launch_unprivileged(unprivileged_work_dir: Path) -> AsyncIterator[Any]:
    """``dockyard launch --json`` as ``nobody`` (or as the unprivileged test user)."""
    python, environment = unprivileged_python()
    started: list[asyncio.subprocess.Process] = []

    async def start(script: str) -> asyncio.subprocess.Process:
        task = {"name": "escapes", "task_id": {"value": "escapes"}, "command": {"value": script}}
        task_file = unprivileged_work_dir / "task.json"
        task_file.write_text(json.dumps(task))
        process = await asyncio.create_subprocess_exec(
            python,
            "-m",
            "dockyard.cli",
            "launch",
            "--json",
            "--containerizers=mesos",
            f"--work_dir={unprivileged_work_dir}",
            str(task_file),
            cwd=unprivileged_work_dir,
            env={**environment, "HOME": str(unprivileged_work_dir)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            user="nobody" if os.geteuid() == 0 else None,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def states_until(process: asyncio.subprocess.Process, wanted: set[str]) -> list[str]:
    """Task states ``dockyard launch --json`` prints, up to one of ``wanted`` or its exit."""
    assert process.stdout is not None
    states: list[str] = []
    async with asyncio.timeout(60):
        while line := await process.stdout.readline():
            states.append(json.loads(line)["state"])
            if states[-1] in wanted:
                break
    return states


def sandbox_of(work_dir: Path) -> Path:
    (latest,) = work_dir.glob("slaves/*/frameworks/*/executors/escapes/runs/latest")
    return latest.resolve()


async def test_an_unprivileged_agent_leaves_nothing_of_a_finished_task(
    launch_unprivileged: Any, unprivileged_work_dir: Path, marker: str
) -> None:
    process = await launch_unprivileged(ESCAPE.format(marker=marker) + "exit 0")
    states = await states_until(process, {"TASK_FINISHED", "TASK_FAILED"})
    assert states[-1] == "TASK_FINISHED"
    assert survivors(sandbox_of(unprivileged_work_dir), marker, "first", "second") == []
    assert await process.wait() == 0


async def test_an_unprivileged_agent_leaves_nothing_of_a_killed_task(
    launch_unprivileged: Any, unprivileged_work_dir: Path, marker: str
) -> None:
    process = await launch_unprivileged(ESCAPE.format(marker=marker) + "echo > ready; sleep 600")
    assert (await states_until(process, {"TASK_RUNNING"}))[-1] == "TASK_RUNNING"
    await until(lambda: bool(list(unprivileged_work_dir.glob("slaves/*/*/*/*/*/runs/*/ready"))))
    process.send_signal(signal.SIGINT)  # dockyard launch kills the task on Ctrl-C
    states = await states_until(process, {"TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"})
    assert states[-1] == "TASK_KILLED"
    assert survivors(sandbox_of(unprivileged_work_dir), marker, "first", "second") == []


def test_a_process_listed_no_more_is_not_signalled() -> None:
    """Between the two listings its pid could have gone to a stranger."""
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        listings = iter([{sleeper.pid}, set()])
        assert leftovers.signal_all(lambda: next(listings), signal.SIGKILL) == []
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
