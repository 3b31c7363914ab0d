"""Benchmark the docker containerizer against the bare docker SDK on the same Engine.

Measures, for a ``true`` task on a locally imported busybox image:
  1. launch→running and launch→finished, plugin vs bare SDK create+start(+wait),
     interleaved run by run (medians and the ratio; target overhead < 10%);
  2. N concurrent launches vs N concurrent bare runs (throughput ratio; target >= 0.9);
  3. agent RSS growth per running container (target < 1 MB);
  4. recovery time with M running containers (target < 2 s).

Usage (from the repository root, which holds the test image helpers):
  python -m benchmarks --only docker [--quick]   (or python -m benchmarks.docker_launch)
Needs a Docker daemon at /var/run/docker.sock and busybox-static. Everything it creates is
removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from docker import APIClient
from docker.errors import APIError
from dockyard.containers import AgentContext, ContainerConfig, RecoveredContainer
from dockyard.flags import FlagSet
from dockyard_docker import engine, naming
from dockyard_docker.plugin import DockerContainerizer
from dockyard_docker.resources import host_memory
from dockyard_docker.run_config import RunContext, build_run_spec

from benchmarks.harness import Result, Target, Unavailable, interleave, table
from tests.docker.configs import TEST_LABEL, TEST_LABEL_VALUE, task_config
from tests.docker.images import busybox_rootfs, import_image

SOCKET = "/var/run/docker.sock"
LAUNCH = Target("median overhead < 10%", "overhead", 0.10)
THROUGHPUT = Target(">= 0.9x bare SDK", "throughput", 0.9)
MEMORY = Target("< 1 MiB per container", "below", 1024.0)
RECOVERY = Target("< 2 s", "below", 2.0)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Bench:
    def __init__(self, api: APIClient, image: str, work: Path) -> None:
        self.api = api
        self.image = image
        self.work = work
        self.agent_ids: list[str] = []
        self.run_context = RunContext(
            agent_id="bench-bare",
            sandbox_directory="/mnt/mesos/sandbox",
            default_dns=None,
            total_memory=host_memory(),
        )

    async def agent(self, agent_id: str | None = None) -> DockerContainerizer:
        agent_id = agent_id or f"bench-{uuid.uuid4().hex[:10]}"
        self.agent_ids.append(agent_id)
        plugin = DockerContainerizer()
        flags = FlagSet()
        plugin.add_flags(flags)
        await plugin.start(
            AgentContext(
                flags=flags.parse([], {}),
                agent_id=agent_id,
                work_dir=self.work,
                state_dir=self.work / "meta" / agent_id,
            )
        )
        return plugin

    def config(self, command: str) -> ContainerConfig:
        return task_config(self.work / "sandboxes" / uuid.uuid4().hex, self.image, command)

    async def plugin_run(self, plugin: DockerContainerizer) -> tuple[float, float]:
        config = self.config("true")
        started = time.perf_counter()
        await plugin.prepare(config)
        await plugin.launch(config)
        running = time.perf_counter()
        await plugin.wait(config.container_id)
        return running - started, time.perf_counter() - started

    def bare_run(self) -> tuple[float, float, str]:
        """The same container (same Engine create body) with the SDK alone."""
        spec = build_run_spec(self.config("true"), self.run_context)
        spec.name = f"bench-bare-{uuid.uuid4().hex}"
        started = time.perf_counter()
        docker_id = engine.create(self.api, spec)
        self.api.start(docker_id)
        running = time.perf_counter()
        self.api.wait(docker_id)
        return running - started, time.perf_counter() - started, docker_id

    def remove_bare(self, docker_id: str) -> None:
        self.api.remove_container(docker_id, force=True)

    def clean(self) -> None:
        labels = [f"{naming.AGENT_LABEL}={a}" for a in self.agent_ids]
        for label in [f"{TEST_LABEL}={TEST_LABEL_VALUE}", *labels]:
            for container in self.api.containers(all=True, filters={"label": label}):
                with contextlib.suppress(APIError):
                    self.api.remove_container(container["Id"], force=True)


async def sequential(bench: Bench, runs: int) -> list[Result]:
    """One launch at a time, alternating which side goes first (as harness.interleave)."""
    plugin = await bench.agent()
    ours: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []

    async def bare_round() -> None:
        running, ended, docker_id = await asyncio.to_thread(bench.bare_run)
        bare.append((running, ended))
        await asyncio.to_thread(bench.remove_bare, docker_id)

    try:
        for number in range(runs):
            if number % 2:
                await bare_round()
            ours.append(await bench.plugin_run(plugin))
            if not number % 2:
                await bare_round()
    finally:
        await plugin.stop()
    return [
        Result(
            f"docker launch -> {phase}",
            "ms",
            LAUNCH,
            [sample[index] * 1e3 for sample in ours],
            [sample[index] * 1e3 for sample in bare],
            baseline,
        )
        for index, (phase, baseline) in enumerate(
            (("running", "SDK create+start"), ("finished", "SDK create+start+wait"))
        )
    ]


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def concurrent(bench: Bench, count: int, rounds: int) -> Result:
    """``count`` launches at once, rounds alternating with ``count`` bare SDK runs at once.

    The bare runs get a thread each, so the baseline is not throttled by a small pool.
    """
    plugin = await bench.agent()
    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="bare-sdk")
    loop = asyncio.get_running_loop()

    async def ours() -> float:
        seconds = await timed(
            lambda: asyncio.gather(*(bench.plugin_run(plugin) for _ in range(count)))
        )
        await asyncio.to_thread(bench.clean)  # untimed, as the bare side's removals
        return count / seconds

    async def theirs() -> float:
        runs: list[tuple[float, float, str]] = []

        async def run_all() -> None:
            runs.extend(
                await asyncio.gather(
                    *(loop.run_in_executor(pool, bench.bare_run) for _ in range(count))
                )
            )

        seconds = await timed(run_all)
        await asyncio.gather(*(loop.run_in_executor(pool, bench.remove_bare, r[2]) for r in runs))
        return count / seconds

    try:
        plugin_rates, bare_rates = await interleave(rounds, ours, theirs)
    finally:
        await plugin.stop()
        pool.shutdown()
    return Result(
        f"{count} concurrent docker tasks",
        "tasks/s",
        THROUGHPUT,
        plugin_rates,
        bare_rates,
        f"{count} concurrent SDK runs",
    )


async def memory_and_recovery(bench: Bench, count: int) -> dict[str, Any]:
    plugin = await bench.agent()
    agent_id = bench.agent_ids[-1]
    configs = [bench.config("exec sleep 1000") for _ in range(count)]
    before = rss_bytes()
    handles = []
    for batch in range(0, count, 25):
        for config in configs[batch : batch + 25]:
            await plugin.prepare(config)
        launched = await asyncio.gather(*(plugin.launch(c) for c in configs[batch : batch + 25]))
        handles.extend(launched)
    await asyncio.sleep(1)
    grown = rss_bytes() - before
    await plugin.stop()
    restarted = await bench.agent(agent_id)
    recovered_in = await timed(
        lambda: restarted.recover(
            [
                RecoveredContainer(config=c, handle=h.handle)
                for c, h in zip(configs, handles, strict=True)
            ]
        )
    )
    await restarted.stop()
    return {
        "running_containers": count,
        "rss_growth_per_container_bytes": grown / count,
        "recover_seconds": recovered_in,
    }


async def measure(runs: int, count: int, rounds: int, recover: int) -> list[Result]:
    if not await asyncio.to_thread(Path(SOCKET).exists):
        raise Unavailable(f"no Docker daemon at {SOCKET}")
    api = APIClient(base_url=f"unix://{SOCKET}", version="auto")
    image = import_image(api, "dockyard-bench/busybox", busybox_rootfs())
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as work:
        bench = Bench(api, image, Path(work))
        try:
            results = await sequential(bench, runs)
            results.append(await concurrent(bench, count, rounds))
            memory = await memory_and_recovery(bench, recover)
        finally:
            await asyncio.to_thread(bench.clean)
            api.remove_image(image, force=True)
            api.close()
    return [
        *results,
        Result(
            "agent RSS per running docker container",
            "KiB",
            MEMORY,
            [memory["rss_growth_per_container_bytes"] / 1024],
            note=f"{recover} running containers",
        ),
        Result(
            f"recovery with {recover} running docker containers",
            "s",
            RECOVERY,
            [memory["recover_seconds"]],
        ),
    ]


async def run(quick: bool) -> list[Result]:
    """The ``python -m benchmarks`` entry."""
    if quick:
        return await measure(runs=20, count=20, rounds=1, recover=50)
    return await measure(runs=50, count=50, rounds=5, recover=200)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(table(asyncio.run(run(parser.parse_args().quick))))
