"""Launch overhead of the ``mesos`` containerizer against a bare ``subprocess.Popen``.

Each round launches ``true`` once through the plugin and once with Popen, alternating
which goes first, so both see the same machine. "running" is when the launch call
returns (the process has exec'd), "terminal" when its exit is known. Then it starts many
sleeping tasks and reports what each costs the agent plus the supervisor in RSS (the
tasks' own memory is not counted). Prints a table; asserts nothing.

    python benchmarks/native_launch.py [--quick] [--isolation cgroups/cpu,cgroups/mem]
        [--launcher linux|posix]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from dockyard.messages import CommandInfo  # noqa: E402
from dockyard_mesos.plugin import MesosContainerizer  # noqa: E402

from benchmarks.harness import Result, Target, table  # noqa: E402
from tests.mesos.harness import STATE, clean_up, make_config, make_context, until  # noqa: E402

TRUE = CommandInfo(shell=False, value="true", arguments=["true"])
OVERHEAD = Target("median overhead < 5 ms", "extra", 5.0)
MEMORY = Target("< 2 MB per task", "below", 2048.0)
GRACE = Target("report", "report")


async def plugin_round(mesos: MesosContainerizer, work_dir: Path) -> tuple[float, float]:
    config = make_config(work_dir, uuid.uuid4().hex, TRUE)
    started = time.perf_counter()
    await mesos.prepare(config)
    await mesos.launch(config)
    running = time.perf_counter()
    await mesos.wait(config.container_id)
    return running - started, time.perf_counter() - started


def popen_round(work_dir: Path) -> tuple[float, float]:
    sandbox = work_dir / "popen" / uuid.uuid4().hex
    sandbox.mkdir(parents=True)
    with open(sandbox / "stdout", "ab") as out, open(sandbox / "stderr", "ab") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["true"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=sandbox,
            start_new_session=True,
        )
        running = time.perf_counter()
        process.wait()
    return running - started, time.perf_counter() - started


async def launch_times(mesos: MesosContainerizer, work_dir: Path, rounds: int) -> list[Result]:
    """Both ways in turn, each round starting with the other one (as harness.interleave)."""
    ours: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    for number in range(rounds):
        if number % 2:
            bare.append(popen_round(work_dir))
        ours.append(await plugin_round(mesos, work_dir))
        if not number % 2:
            bare.append(popen_round(work_dir))
    return [
        Result(
            name=f"native launch -> {phase}",
            unit="ms",
            target=OVERHEAD,
            samples=[sample[index] * 1e3 for sample in ours],
            baseline=[sample[index] * 1e3 for sample in bare],
            baseline_name="Popen",
        )
        for index, phase in enumerate(("running", "terminal"))
    ]


async def memory_per_task(mesos: MesosContainerizer, work_dir: Path, count: int) -> Result:
    supervisor = int((work_dir / STATE / "supervisor.pid").read_text())
    watched = [psutil.Process(), psutil.Process(supervisor)]

    def rss() -> int:
        return sum(process.memory_info().rss for process in watched)

    before = rss()
    configs = [
        make_config(work_dir, f"sleeper-{n}", CommandInfo(value="exec sleep 600"))
        for n in range(count)
    ]
    for config in configs:
        await mesos.prepare(config)
        await mesos.launch(config)
    waiters = [asyncio.ensure_future(mesos.wait(config.container_id)) for config in configs]
    per_task = (rss() - before) / count / 1024
    await asyncio.gather(*(mesos.destroy(c.container_id, timedelta(0)) for c in configs))
    await asyncio.gather(*waiters)
    note = f"agent + supervisor RSS growth over {count} running tasks"
    return Result(
        name="native RSS per task", unit="KiB", target=MEMORY, samples=[per_task], note=note
    )


async def grace_accuracy(mesos: MesosContainerizer, work_dir: Path, rounds: int) -> Result:
    """How late the SIGKILL ends a task that ignores SIGTERM, past a 100 ms grace period."""
    grace = timedelta(milliseconds=100)
    script = "trap '' TERM; echo > ready; while :; do sleep 0.01; done"
    late = []
    for number in range(rounds):
        config = make_config(work_dir, f"stubborn-{number}", CommandInfo(value=script))
        await mesos.prepare(config)
        await mesos.launch(config)
        await until((config.sandbox / "ready").exists)
        started = time.perf_counter()
        await mesos.destroy(config.container_id, grace)
        late.append((time.perf_counter() - started - grace.total_seconds()) * 1e3)
    note = "destroy() to termination, minus the grace period"
    return Result(
        name="native kill past a 100 ms grace", unit="ms", target=GRACE, samples=late, note=note
    )


async def run(
    quick: bool, isolation: str = "posix/cpu,posix/mem", launcher: str | None = None
) -> list[Result]:
    rounds, tasks, kills = (50, 50, 5) if quick else (300, 200, 20)
    agent_id = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="dockyard-native-bench-") as directory:
        work_dir = Path(directory)
        mesos = MesosContainerizer()
        flags = [f"--isolation={isolation}", *([f"--launcher={launcher}"] if launcher else [])]
        await mesos.start(make_context(work_dir, agent_id, *flags))
        try:
            for _ in range(10):  # warm up both paths
                await plugin_round(mesos, work_dir)
                popen_round(work_dir)
            results = await launch_times(mesos, work_dir, rounds)
            results.append(await memory_per_task(mesos, work_dir, tasks))
            results.append(await grace_accuracy(mesos, work_dir, kills))
        finally:
            await mesos.stop()
            clean_up(work_dir, agent_id)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--isolation", default="posix/cpu,posix/mem")
    parser.add_argument("--launcher", choices=("linux", "posix"))
    arguments = parser.parse_args()
    print(f"isolation: {arguments.isolation}, launcher: {arguments.launcher or 'default'}")
    print(table(asyncio.run(run(arguments.quick, arguments.isolation, arguments.launcher))))
