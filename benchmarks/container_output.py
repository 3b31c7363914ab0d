"""What container output costs: rotated against plain files, native and Docker.

- native: a task prints numbered 100-byte lines; the time to its exit with the
  ``logrotate`` logger's output (a pipe the supervisor splices into 1 MiB files) against
  the ``sandbox`` logger's (the task appends to its file itself), interleaved, and the
  supervisor's CPU time per MiB rotated;
- docker: a container that already printed its lines; the frames per second the log
  follower writes into rotated files, against reading the same Engine log stream and
  throwing it away.

    python -m benchmarks.container_output [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from docker import APIClient
from dockyard.containers import ContainerOutput, FileOutput, Rotation
from dockyard_docker.engine_streams import EngineStreams
from dockyard_docker.logs import LogFollower
from dockyard_mesos.plugin import MesosContainerizer

from benchmarks.harness import Result, Target, Unavailable, interleave, table
from tests.docker.images import busybox_rootfs, import_image
from tests.mesos.harness import STATE, clean_up, make_config, make_context, shell, until
from tests.rotated import lines_command

SOCKET = "/var/run/docker.sock"
MB = 1 << 20
ROTATION = Rotation(max_size=MB, max_files=5)
NATIVE = Target("< 25% slower than the task appending itself", "overhead", 0.25)
SPLICE_CPU = Target("report", "report")
FOLLOWER = Target("at least half the bare stream's rate", "throughput", 0.5)


def rotated(sandbox: Path) -> ContainerOutput:
    return ContainerOutput(
        stdout=FileOutput(path=sandbox / "stdout", rotation=ROTATION),
        stderr=FileOutput(path=sandbox / "stderr", rotation=ROTATION),
    )


async def native(rounds: int, lines: int) -> list[Result]:
    agent_id = f"bench-{uuid.uuid4().hex[:8]}"
    cpu_per_mib: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dockyard-output-bench-") as directory:
        work_dir = Path(directory)
        mesos = MesosContainerizer()
        await mesos.start(make_context(work_dir, agent_id))
        pid_file = work_dir / STATE / "supervisor.pid"
        await until(pid_file.exists)  # written by the supervisor once it has forked
        supervisor = psutil.Process(int(pid_file.read_text()))

        async def run_task(rotate: bool) -> float:
            config = make_config(work_dir, uuid.uuid4().hex, shell(lines_command(1, lines)))
            if rotate:
                config.output = rotated(config.sandbox)
            cpu = sum(supervisor.cpu_times()[:2])
            started = time.perf_counter()
            await mesos.prepare(config)
            await mesos.launch(config)
            await mesos.wait(config.container_id)
            elapsed = time.perf_counter() - started
            if rotate:
                cpu_per_mib.append(
                    (sum(supervisor.cpu_times()[:2]) - cpu) * 1e3 / (lines * 100 / MB)
                )
            return elapsed * 1e3

        async def with_rotation() -> float:
            return await run_task(True)

        async def appending() -> float:
            return await run_task(False)

        try:
            ours, bare = await interleave(rounds, with_rotation, appending)
        finally:
            await mesos.stop()
            clean_up(work_dir, agent_id)
    size = f"{lines * 100 / MB:.0f} MiB"
    return [
        Result(
            f"native task printing {size}, rotated",
            "ms",
            NATIVE,
            ours,
            bare,
            "task appends to its file",
        ),
        Result(
            "native rotation: supervisor CPU",
            "ms/MiB",
            SPLICE_CPU,
            cpu_per_mib,
            note="user+system time of the supervisor",
        ),
    ]


async def docker(rounds: int, lines: int) -> list[Result]:
    if not await asyncio.to_thread(Path(SOCKET).exists):
        raise Unavailable(f"no Docker daemon at {SOCKET}")
    api = APIClient(base_url=f"unix://{SOCKET}", version="auto")
    image = import_image(api, "dockyard-bench/busybox", busybox_rootfs())
    container = api.create_container(
        image, ["sh", "-c", lines_command(1, lines)], labels={"dockyard.bench": "output"}
    )
    streams = EngineStreams(SOCKET, api.api_version)
    try:
        api.start(container["Id"])
        api.wait(container["Id"])
        with tempfile.TemporaryDirectory(prefix="dockyard-output-bench-") as directory:

            async def follower() -> float:
                work = Path(directory) / uuid.uuid4().hex
                work.mkdir()
                follower = LogFollower(streams, container["Id"], rotated(work), work / "cursors")
                started = time.perf_counter()
                follower.start()
                await follower.finished
                return lines / (time.perf_counter() - started)

            async def bare_stream() -> float:
                params = {"follow": "1", "timestamps": "1", "stdout": "1", "stderr": "1"}
                started = time.perf_counter()
                async with streams.open(
                    "GET", f"/containers/{container['Id']}/logs", params
                ) as response:
                    async for _ in response.content.iter_any():
                        pass
                return lines / (time.perf_counter() - started)

            ours, bare = await interleave(rounds, follower, bare_stream)
    finally:
        await streams.close()
        api.remove_container(container["Id"], force=True)
        api.remove_image(image, force=True)
        api.close()
    return [
        Result(
            "docker output into rotated files",
            "frames/s",
            FOLLOWER,
            ours,
            bare,
            "Engine log stream read and dropped",
        )
    ]


async def run(quick: bool) -> list[Result]:
    """The ``python -m benchmarks`` entry."""
    rounds = 3 if quick else 10
    results = await native(rounds, 200_000 if quick else 1_000_000)
    with contextlib.suppress(Unavailable):  # the native results stand on their own
        results += await docker(rounds, 50_000 if quick else 200_000)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(table(asyncio.run(run(parser.parse_args().quick))))
