"""Fetcher benchmarks: HTTP download throughput against ``curl -o``, and cache-hit placement.

Run: ``python benchmarks/fetch_throughput.py [--size-mib 1024] [--rounds 3] [--dir /dev/shm]``.
The file is served over loopback by an aiohttp server (sendfile) in a separate process, so the
server does not share the fetcher's event loop. curl and dockyard runs alternate, each writing
to the same disk, and every output is deleted before the next run. Targets (issue 5): dockyard
>= 0.9x curl's throughput; a 100 MB cache hit placed in < 50 ms (hard link or reflink).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from dockyard.containers import ContainerConfig
from dockyard.messages import URI, CommandInfo, ContainerID
from dockyard_fetcher.plugin import FetcherPlugin, discover_handlers
from dockyard_fetcher.settings import Settings

MIB = 1 << 20


def serve(directory: Path, port_file: Path) -> None:
    """The server process: static files with sendfile; writes its port when ready."""

    async def main() -> None:
        app = web.Application()
        app.router.add_static("/", directory)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await asyncio.to_thread(port_file.write_text, str(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MIB)
    with path.open("wb") as file:
        for _ in range(size // MIB):
            file.write(block)


def start_server(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = directory / ".port"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(directory), str(port_file)])
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


async def run(size_mib: int, rounds: int, hit_mib: int, hit_rounds: int, where: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="dockyard-fetch-bench-", dir=where))
    served = root / "served"
    served.mkdir()
    server = None
    plugin = FetcherPlugin()
    try:
        make_file(served / "big.bin", size_mib * MIB)
        make_file(served / "hit.bin", hit_mib * MIB)
        server, base = start_server(served)
        settings = Settings(
            cache_dir=root / "cache",
            cache_size=4 * hit_mib * MIB,
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
        curl_times, dockyard_times = [], []
        for round_number in range(rounds):
            curl_times.append(time_curl(url, root / "curl.out"))
            config = new_config(work, f"direct{round_number}", URI(value=url))
            dockyard_times.append(await time_fetch(plugin, config))
            shutil.rmtree(config.sandbox)
            os.sync()

        hit_uri = URI(value=f"{base}/hit.bin", cache=True)
        await time_fetch(plugin, new_config(work, "miss", hit_uri))
        hit_times = [
            await time_fetch(plugin, new_config(work, f"hit{index}", hit_uri))
            for index in range(hit_rounds)
        ]
        copy_times = []
        for index in range(hit_rounds):
            started = time.perf_counter()
            shutil.copyfile(served / "hit.bin", root / f"copy{index}")
            copy_times.append(time.perf_counter() - started)
            (root / f"copy{index}").unlink()
        placed = (work / "hit0" / "hit.bin").stat()
        method = "hard link" if placed.st_nlink > 1 else "reflink or copy"
    finally:
        await plugin.stop()
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)

    size = size_mib * MIB
    curl_rate = size / statistics.median(curl_times) / MIB
    dockyard_rate = size / statistics.median(dockyard_times) / MIB
    print(f"{'measurement':<44} {'median':>12} {'best':>12}")
    print(f"{'-' * 44} {'-' * 12} {'-' * 12}")
    rows = [
        (f"curl -o, {size_mib} MiB over loopback (MiB/s)", curl_times, True),
        (f"dockyard fetch, {size_mib} MiB (MiB/s)", dockyard_times, True),
        (f"cache hit, {hit_mib} MiB, {method} (ms)", hit_times, False),
        (f"plain copy of {hit_mib} MiB, for reference (ms)", copy_times, False),
    ]
    for label, times, is_rate in rows:
        if is_rate:
            median, best = size / statistics.median(times) / MIB, size / min(times) / MIB
        else:
            median, best = statistics.median(times) * 1000, min(times) * 1000
        print(f"{label:<44} {median:>12.1f} {best:>12.1f}")
    print(f"\ndockyard / curl throughput (medians): {dockyard_rate / curl_rate:.2f}x")
    print("runs, MiB/s: curl", [round(size / t / MIB) for t in curl_times])
    print("runs, MiB/s: dockyard", [round(size / t / MIB) for t in dockyard_times])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hit-mib", type=int, default=100)
    parser.add_argument("--hit-rounds", type=int, default=5)
    parser.add_argument(
        "--dir",
        default=tempfile.gettempdir(),
        help="where files are served from and written to (e.g. /dev/shm to leave the disk out)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.size_mib, args.rounds, args.hit_mib, args.hit_rounds, args.dir))


if __name__ == "__main__":
    main()
