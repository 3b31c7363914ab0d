"""Fetcher benchmarks: HTTP download throughput against ``curl -o``, and cache-hit placement.

Run through ``python -m benchmarks --only fetch`` (or ``python -m benchmarks.fetch_throughput``).
The file is served over loopback by an aiohttp server (sendfile) in a separate process, so the
server does not share the fetcher's event loop. curl and dockyard runs alternate, each writing
to the same disk (a full run does it again in /dev/shm to leave the disk out), and every
output is deleted before the next run. Targets (issue 5): dockyard
>= 0.9x curl's throughput; a 100 MB cache hit placed in < 50 ms (hard link or reflink).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from dockyard.containers import ContainerConfig
from dockyard.messages import URI, CommandInfo, ContainerID
from dockyard_fetcher.plugin import FetcherPlugin, discover_handlers
from dockyard_fetcher.settings import Settings

from benchmarks.harness import Result, Target, interleave, table
from tests.loopback import loopback_port, serve_on_loopback

MIB = 1 << 20
REPO_ROOT = Path(__file__).resolve().parents[1]
SHM = Path("/dev/shm")
HAS_SHM = SHM.is_dir()


def serve(directory: Path, port_file: Path) -> None:
    """The server process: static files with sendfile; writes its port when ready."""

    async def main() -> None:
        app = web.Application()
        app.router.add_static("/", directory)
        runner = await serve_on_loopback(app)
        await asyncio.to_thread(port_file.write_text, str(loopback_port(runner)))
        await asyncio.Event().wait()

    asyncio.run(main())


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MIB)
    with path.open("wb") as file:
        for _ in range(size // MIB):
            file.write(block)


def start_server(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = directory / ".port"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.fetch_throughput",
            "--serve",
            str(directory),
            str(port_file),
        ],
        cwd=REPO_ROOT,
    )
    while not port_file.exists() or not port_file.read_text():
        if server.poll() is not None:
            raise SystemExit("the benchmark HTTP server did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port_file.read_text()}"


def time_curl(url: str, output: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-sSf", "-o", str(output), url], check=True)
    elapsed = time.perf_counter() - started
    output.unlink()
    os.sync()  # the next run must not pay for this one's writeback
    return elapsed


def new_config(work: Path, name: str, uri: URI) -> ContainerConfig:
    sandbox = work / name
    sandbox.mkdir()
    return ContainerConfig(
        container_id=ContainerID(value=name), command=CommandInfo(uris=[uri]), sandbox=sandbox
    )


async def time_fetch(plugin: FetcherPlugin, config: ContainerConfig) -> float:
    started = time.perf_counter()
    job = plugin.fetch(config=config, uris=config.command.uris)
    assert job is not None
    await job
    return time.perf_counter() - started


@dataclass(frozen=True)
class Plan:
    size_mib: int
    rounds: int
    hit_mib: int
    hit_rounds: int


QUICK = Plan(size_mib=256, rounds=3, hit_mib=100, hit_rounds=5)
FULL = Plan(size_mib=1024, rounds=9, hit_mib=100, hit_rounds=10)
THROUGHPUT = Target(">= 0.9x curl", "throughput", 0.9)
CACHE_HIT = Target("< 50 ms", "below", 50.0)


async def measure(plan: Plan, where: str) -> list[Result]:
    """Download throughput (interleaved with curl) and cache-hit placement, under ``where``."""
    root = Path(tempfile.mkdtemp(prefix="dockyard-fetch-bench-", dir=where))
    served = root / "served"
    served.mkdir()
    server = None
    plugin = FetcherPlugin()
    size = plan.size_mib * MIB
    try:
        make_file(served / "big.bin", size)
        make_file(served / "hit.bin", plan.hit_mib * MIB)
        server, base = start_server(served)
        settings = Settings(
            cache_dir=root / "cache",
            cache_size=4 * plan.hit_mib * MIB,
            stall_timeout=timedelta(minutes=1),
        )
        await plugin.configure(settings, discover_handlers())
        work = root / "sandboxes"
        work.mkdir()
        url = f"{base}/big.bin"
        time_curl(url, root / "warm")  # page cache warm-up, and a first run for each
        warm = new_config(work, "warm", URI(value=url))
        await time_fetch(plugin, warm)
        shutil.rmtree(warm.sandbox)
        runs = iter(range(plan.rounds))

        async def dockyard_rate() -> float:
            config = new_config(work, f"direct{next(runs)}", URI(value=url))
            elapsed = await time_fetch(plugin, config)
            shutil.rmtree(config.sandbox)
            os.sync()
            return size / elapsed / MIB

        async def curl_rate() -> float:
            return size / await asyncio.to_thread(time_curl, url, root / "curl.out") / MIB

        ours, curl = await interleave(plan.rounds, dockyard_rate, curl_rate)

        hit_uri = URI(value=f"{base}/hit.bin", cache=True)
        await time_fetch(plugin, new_config(work, "miss", hit_uri))
        hits = [
            await time_fetch(plugin, new_config(work, f"hit{index}", hit_uri)) * 1e3
            for index in range(plan.hit_rounds)
        ]
        copies = [copy_time(served / "hit.bin", root / "copy") * 1e3 for _ in hits]
        placed = (work / "hit0" / "hit.bin").stat()
        method = "hard link" if placed.st_nlink > 1 else "reflink or copy"
    finally:
        await plugin.stop()
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)
    return [
        Result(
            f"HTTP fetch {plan.size_mib} MiB loopback, to {where}",
            "MiB/s",
            THROUGHPUT,
            ours,
            curl,
            "curl -o",
        ),
        Result(
            f"cache hit {plan.hit_mib} MiB",
            "ms",
            CACHE_HIT,
            hits,
            copies,
            "plain copy",
            note=f"placed by {method}",
        ),
    ]


def copy_time(source: Path, target: Path) -> float:
    started = time.perf_counter()
    shutil.copyfile(source, target)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


async def run(quick: bool) -> list[Result]:
    plan = QUICK if quick else FULL
    results = await measure(plan, tempfile.gettempdir())
    if not quick and HAS_SHM:  # the same without the disk
        results += (await measure(plan, str(SHM)))[:1]
    return results


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(table(asyncio.run(run(parser.parse_args().quick))))


if __name__ == "__main__":
    main()
