"""cgroups/cpu,cgroups/mem on the real host: limits in the cgroup files, OOM, tree kill."""

from __future__ import annotations

import asyncio
import functools
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dockyard.containers import ContainerConfig, RecoveredContainer
from dockyard.messages import Reason, Resource, Scalar, TaskState, ValueType
from dockyard_mesos.plugin import MesosContainerizer

from tests.mesos.harness import gone, launch, make_config, read_pid, shell, until

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("needs_root")]


def scalars(**values: float) -> list[Resource]:
    return [
        Resource(name=name, type=ValueType.SCALAR, scalar=Scalar(value=value))
        for name, value in values.items()
    ]


@pytest.fixture
async def isolated(start_containerizer):
    mesos = await start_containerizer("--isolation=cgroups/cpu,cgroups/mem")
    if mesos._hierarchy is None:
        pytest.skip("no writable cgroup hierarchy with cpu and memory on this host")
    return mesos


async def start(
    mesos: MesosContainerizer, work_dir: Path, name: str, script: str, **extra: Any
) -> tuple[ContainerConfig, int, dict[str, Path], int]:
    """Launch ``script``; also return the cgroup version, directories and the task's pid."""
    config, launched = await launch(mesos, work_dir, name, shell(script), **extra)
    handle = launched.handle
    dirs = {name: Path(path) for name, path in handle["cgroups"]["dirs"].items()}
    return config, handle["cgroups"]["version"], dirs, handle["pid"]


def read(directory: Path, name: str) -> str:
    return (directory / name).read_text().strip()


async def test_limits_follow_mesos_formulas(isolated, work_dir):
    config, version, dirs, pid = await start(
        isolated,
        work_dir,
        "limits",
        "echo > ready; exec sleep 600",
        resources=scalars(cpus=0.5, mem=64),
        limits={"cpus": Scalar(value=1.5), "mem": Scalar(value=128)},
    )
    await until((config.sandbox / "ready").exists)
    if version == 1:
        assert read(dirs["cpu"], "cpu.shares") == "512"
        assert read(dirs["cpu"], "cpu.cfs_quota_us") == "150000"
        assert read(dirs["cpu"], "cpu.cfs_period_us") == "100000"
        assert read(dirs["memory"], "memory.limit_in_bytes") == str(128 * 2**20)
        assert read(dirs["memory"], "memory.soft_limit_in_bytes") == str(64 * 2**20)
    else:
        assert read(dirs["cpu"], "cpu.max") == "150000 100000"
        assert read(dirs["memory"], "memory.max") == str(128 * 2**20)
    for directory in set(dirs.values()):
        assert str(pid) in read(directory, "cgroup.procs").split()
    await isolated.destroy(config.container_id, timedelta(0))
    await until(lambda: not any(directory.exists() for directory in dirs.values()))


def periods_counted(cpu: Path) -> bool:
    stat = dict(line.split() for line in read(cpu, "cpu.stat").splitlines())
    return int(stat.get("nr_periods", 0)) > 0


BUSY_THEN_SLEEP = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo > ready; exec sleep 600"
"""Runs on the CPU a little (so CFS counts periods), then says so and sleeps."""


async def test_cgroups_enable_cfs_gives_the_cpus_request_as_quota(start_containerizer, work_dir):
    """Mesos's --cgroups_enable_cfs: quota = max(100 ms x cpus, 1 ms) per 100 ms period."""
    isolated = await start_containerizer(
        "--isolation=cgroups/cpu,cgroups/mem", "--cgroups_enable_cfs"
    )
    if isolated._hierarchy is None:
        pytest.skip("no writable cgroup hierarchy with cpu and memory on this host")
    expected = {"half": (0.5, 50_000), "tiny": (0.001, 1_000)}
    for name, (cpus, quota) in expected.items():
        config, version, dirs, _ = await start(
            isolated, work_dir, name, BUSY_THEN_SLEEP, resources=scalars(cpus=cpus, mem=64)
        )
        if version == 1:
            assert read(dirs["cpu"], "cpu.cfs_quota_us") == str(quota)
            assert read(dirs["cpu"], "cpu.cfs_period_us") == "100000"
        else:
            assert read(dirs["cpu"], "cpu.max") == f"{quota} 100000"
        if name == "half":  # at 1 ms per 100 ms, "tiny" would take minutes to get there
            await until((config.sandbox / "ready").exists)
            # The kernel counts a period when its 100 ms timer fires, which can be after "ready".
            await until(functools.partial(periods_counted, dirs["cpu"]))
        statistics = await isolated.usage(config.container_id)
        assert statistics is not None
        assert (statistics.cpus_limit, statistics.cpus_soft_limit) == (cpus, cpus)
        if name == "half":
            assert statistics.cpus_nr_periods, "the quota's CFS statistics are reported"
        await isolated.destroy(config.container_id, timedelta(0))


async def test_memory_below_the_minimum_is_raised_to_32mb(isolated, work_dir):
    config, version, dirs, _ = await start(
        isolated, work_dir, "tiny", "exec sleep 600", resources=scalars(cpus=0.001, mem=1)
    )
    name = "memory.limit_in_bytes" if version == 1 else "memory.max"
    assert read(dirs["memory"], name) == str(32 * 2**20)
    if version == 1:
        assert read(dirs["cpu"], "cpu.shares") == "2"
    await isolated.destroy(config.container_id, timedelta(0))


async def test_oom_kill_is_reported_as_a_memory_limitation(isolated, work_dir):
    script = f"{sys.executable} -c \"x = b'x' * (128 << 20)\""
    config, *_ = await start(isolated, work_dir, "oom", script, resources=scalars(mem=32))
    termination = await isolated.wait(config.container_id)
    assert termination is not None
    assert termination.state is TaskState.TASK_FAILED
    assert termination.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY
    assert termination.message.startswith("Memory limit exceeded: Requested: 32MB")


async def test_an_oom_kill_of_any_process_ends_the_whole_task(isolated, work_dir):
    allocate = f"{sys.executable} -c \"x = b'x' * (128 << 20)\""
    script = f"{allocate}; echo > survived; exec sleep 600"
    config, *_ = await start(isolated, work_dir, "oom-child", script, resources=scalars(mem=32))
    async with asyncio.timeout(60):  # a guard: without the OOM watch it would sleep on
        termination = await isolated.wait(config.container_id)
    assert termination is not None
    assert termination.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY


async def test_destroy_kills_processes_that_left_the_process_group(isolated, work_dir):
    script = "setsid sleep 600 & echo $! > escaped; echo > ready; exec sleep 600"
    config, _, dirs, _ = await start(
        isolated, work_dir, "escape", script, resources=scalars(mem=64)
    )
    await until((config.sandbox / "ready").exists)
    escaped = read_pid(config.sandbox / "escaped")
    assert escaped in map(int, read(dirs["memory"], "cgroup.procs").split())
    await isolated.destroy(config.container_id, timedelta(seconds=5))
    await until(lambda: gone(escaped))


async def test_usage_reads_the_cgroups(isolated, work_dir):
    script = "echo > ready; exec sleep 600"
    config, *_ = await start(isolated, work_dir, "usage", script, resources=scalars(cpus=1, mem=64))
    await until((config.sandbox / "ready").exists)
    statistics = await isolated.usage(config.container_id)
    assert statistics is not None
    assert statistics.mem_limit_bytes == 64 * 2**20
    assert statistics.mem_rss_bytes is not None
    assert statistics.mem_rss_bytes > 0
    await isolated.destroy(config.container_id, timedelta(0))


async def test_exec_runs_in_the_task_cgroups(isolated, work_dir):
    config, _, dirs, _ = await start(
        isolated, work_dir, "exec", "echo > ready; exec sleep 600", resources=scalars(mem=64)
    )
    await until((config.sandbox / "ready").exists)
    check = shell("echo $$ > check; cat /proc/self/cgroup > cgroups; sleep 600")
    checking = asyncio.create_task(
        isolated.exec_in_container(config.container_id, check, timedelta(seconds=30))
    )
    await until(lambda: (config.sandbox / "cgroups").exists())
    check_pid = read_pid(config.sandbox / "check")
    for directory in set(dirs.values()):
        assert check_pid in map(int, read(directory, "cgroup.procs").split())
    await isolated.destroy(config.container_id, timedelta(0))
    await checking
    assert gone(check_pid)


async def test_cgroups_of_a_container_never_spawned_are_removed_on_recovery(
    isolated, start_containerizer, work_dir
):
    config = make_config(work_dir, "prepared-only", shell("true"))
    await isolated.prepare(config)
    container = isolated._containers["prepared-only"]
    assert container.cgroups is not None
    dirs = [Path(path) for path in container.cgroups.paths()]
    assert all(directory.exists() for directory in dirs)
    await isolated.stop()  # the agent stops before the launch

    recovering = await start_containerizer("--isolation=cgroups/cpu,cgroups/mem")
    assert await recovering.recover([RecoveredContainer(config=config, handle={})]) == []
    assert not any(directory.exists() for directory in dirs)
