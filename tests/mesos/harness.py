"""Building blocks shared by the mesos tests and the agent they crash on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from dockyard.containers import AgentContext, ContainerConfig, Launched
from dockyard.core_flags import core_flag_set
from dockyard.messages import CommandInfo, ContainerID
from dockyard.supervision import cgroups
from dockyard.supervision.records import read_records
from dockyard_mesos.plugin import MesosContainerizer

STATE = Path("meta/plugins/mesos")


def make_context(work_dir: Path, agent_id: str, *argv: str) -> AgentContext:
    flags = core_flag_set()
    MesosContainerizer().add_flags(flags.owned_by("mesos"))
    return AgentContext(
        flags=flags.parse([f"--work_dir={work_dir}", *argv], {}),
        agent_id=agent_id,
        work_dir=work_dir,
        state_dir=work_dir / STATE,
    )


def make_config(
    work_dir: Path, container_id: str, command: CommandInfo, **extra: Any
) -> ContainerConfig:
    sandbox = work_dir / "containers" / container_id
    sandbox.mkdir(parents=True, exist_ok=True)
    return ContainerConfig(
        container_id=ContainerID(value=container_id), command=command, sandbox=sandbox, **extra
    )


def shell(script: str) -> CommandInfo:
    return CommandInfo(shell=True, value=script)


async def until(condition: Callable[[], bool], give_up_after: float = 20.0) -> None:
    """Wait for something a task does (a file it writes); fails the test if it never does."""
    async with asyncio.timeout(give_up_after):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def launch(
    mesos: MesosContainerizer, work_dir: Path, name: str, command: CommandInfo, **extra: Any
) -> tuple[ContainerConfig, Launched]:
    """Prepare and launch a container the way the core does."""
    config = make_config(work_dir, name, command, **extra)
    await mesos.prepare(config)
    return config, await mesos.launch(config)


def gone(pid: int) -> bool:
    """Whether a process has exited (a zombie counts: it is only waiting to be reaped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_pid(path: Path) -> int:
    return int(path.read_text())


def clean_up(work_dir: Path, agent_id: str | None) -> None:
    """Kill every task and the supervisor of a work dir, and remove the agent's cgroups."""
    state = work_dir / STATE
    for record in read_records(state).values():
        if record.exit is None:
            _kill_group(record.pid, record.start_time)
            cgroups.kill_all(record.cgroups)
    with contextlib.suppress(FileNotFoundError, ValueError, psutil.NoSuchProcess):
        supervisor = psutil.Process(int((state / "supervisor.pid").read_text()))
        supervisor.terminate()
        _wait_gone(supervisor)
    if agent_id is not None:
        remove_agent_cgroups(agent_id)


def remove_agent_cgroups(agent_id: str) -> None:
    """Kill what is left in an agent's cgroups, and remove them."""
    for mount in _cgroup_mounts():
        root = mount / cgroups.CGROUPS_ROOT / agent_id
        if root.exists():
            for directory in sorted(root.rglob("*"), reverse=True):
                if directory.is_dir():
                    cgroups.kill_all([str(directory)])
                    _rmdir(directory)
            _rmdir(root)


def _wait_gone(process: psutil.Process) -> None:
    """Until the process has exited (a zombie counts: reaping it is init's business)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)


def _kill_group(pid: int, start_time: float) -> None:
    with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
        if psutil.Process(pid).create_time() == start_time:
            os.killpg(pid, signal.SIGKILL)


def _cgroup_mounts() -> list[Path]:
    partitions = psutil.disk_partitions(all=True)
    return [Path(p.mountpoint) for p in partitions if p.fstype in ("cgroup", "cgroup2")]


def _rmdir(directory: Path) -> None:
    """Killed processes leave their cgroup a moment later: retry briefly."""
    for _ in range(200):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
