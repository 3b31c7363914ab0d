"""Long uptime in small: chatty tasks through a real agent must leave disk and memory flat.

5,000 native tasks (2,000 with ``--quick``), each printing 1 MiB, run through ``POST
/api/v1`` of a real ``dockyard agent`` with ``--container_logger=logrotate`` rotating at
64 KB (2 rotated files kept) and a short ``--gc_delay``, 16 at a time. Throughout, the
work_dir's disk use (every file's allocated blocks, the ledger included) and the agent's
RSS are sampled. After a warm-up (a tenth of the tasks, and one ``gc_delay`` after the
first ended, so that collection is under way), the samples are cut into quartiles by
time: each measure's growth is the median of the last quartile against the first's.
Flat means within the target; nothing is timed.

    python -m benchmarks.output_soak [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.agent_process import AgentProcess, call, events, running_agent, task_call
from benchmarks.harness import Result, Target, table
from tests.mesos.harness import clean_up

MIB = 1 << 20
TASK_OUTPUT = MIB
ROTATE_AT = 64 << 10
KEPT_FILES = 2
GC_DELAY_SECONDS = 10
IN_FLIGHT = 16
SAMPLE_EVERY = 0.5
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}
FLAGS = (
    "--containerizers=mesos",
    "--container_logger=logrotate",
    f"--logrotate_max_stdout_size={ROTATE_AT // 1024}KB",
    f"--logrotate_max_stderr_size={ROTATE_AT // 1024}KB",
    f"--logrotate_max_files={KEPT_FILES}",
    f"--gc_delay={GC_DELAY_SECONDS}secs",
    "--disk_watch_interval=1secs",
)
LINE = "x" * 99
COMMAND = f"yes {LINE} | head -c {TASK_OUTPUT}"
"""1 MiB of 100-byte lines on stdout, as fast as the pipe takes it."""

DISK_FLAT = Target("growth < 25%", "below", 25.0)
RSS_FLAT = Target("growth < 10%", "below", 10.0)
ALL_FINISHED = Target("all (100%)", "at_least", 100.0)


@dataclass
class Sample:
    at: float
    ended: int
    disk: int
    rss: int


def disk_use(directory: Path) -> int:
    """Bytes allocated under ``directory`` (``du``), skipping what vanishes meanwhile."""
    total = 0
    pending = [directory]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:  # collected while we looked
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


async def soak(count: int) -> tuple[list[Sample], int, dict[str, float], float]:
    """The samples, the tasks that finished, the agent's metrics at the end, and seconds."""
    samples: list[Sample] = []
    no_limit = aiohttp.ClientTimeout(total=None)  # the stream lasts as long as the run
    async with (
        running_agent(*FLAGS) as agent,
        aiohttp.ClientSession(timeout=no_limit) as session,
    ):
        gate = asyncio.Semaphore(IN_FLIGHT)
        ended = finished = 0
        started = time.monotonic()

        async def launch() -> None:
            for n in range(count):
                await gate.acquire()
                status = await call(session, agent.url, task_call(f"soak-{n}", COMMAND))
                if status != 202:
                    raise RuntimeError(f"launch of soak-{n} answered {status}")

        async def sample() -> None:
            while True:
                disk = await asyncio.to_thread(disk_use, agent.work_dir)
                at = time.monotonic() - started
                samples.append(Sample(at, ended, disk, agent.rss_bytes()))
                await asyncio.sleep(SAMPLE_EVERY)

        stream = await session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"})
        helpers = [asyncio.create_task(launch()), asyncio.create_task(sample())]
        try:
            async for event in events(stream):
                if helpers[0].done() and helpers[0].exception() is not None:
                    raise RuntimeError("launching failed") from helpers[0].exception()
                if event["type"] != "TASK_UPDATED":
                    continue
                state = event["task_updated"]["status"]["state"]
                if state in TERMINAL:
                    ended += 1
                    finished += state == "TASK_FINISHED"
                    gate.release()
                    if ended == count:
                        break
            elapsed = time.monotonic() - started
            metrics = await snapshot(session, agent)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            stream.close()
            clean_up(agent.work_dir, read_agent_id(agent))
    return samples, finished, metrics, elapsed


def read_agent_id(agent: AgentProcess) -> str | None:
    path = agent.work_dir / "meta" / "agent_id"
    return path.read_text().strip() if path.exists() else None


async def snapshot(session: aiohttp.ClientSession, agent: AgentProcess) -> dict[str, float]:
    async with session.get(f"{agent.url}/metrics/snapshot") as response:
        metrics: dict[str, float] = await response.json()
        return metrics


def steady(samples: list[Sample], count: int) -> list[Sample]:
    """The samples after the warm-up: a tenth of the tasks ended, and one gc_delay after
    the first did (from then on sandboxes are collected as fast as they come)."""
    first_end = next((s.at for s in samples if s.ended), 0.0)
    return [s for s in samples if s.ended >= count // 10 and s.at >= first_end + GC_DELAY_SECONDS]


def growth(values: list[int]) -> tuple[float, float, float]:
    """(% growth, first quartile's median, last quartile's median)."""
    quarter = max(1, len(values) // 4)
    first = statistics.median(values[:quarter])
    last = statistics.median(values[-quarter:])
    return (last / first - 1) * 100, first, last


async def run(quick: bool) -> list[Result]:
    """The ``python -m benchmarks`` entry."""
    count = 2_000 if quick else 5_000  # 500 could end within one gc_delay
    samples, finished, metrics, elapsed = await soak(count)
    kept = steady(samples, count)
    if len(kept) < 8:
        raise RuntimeError(f"only {len(kept)} samples after the warm-up: run more tasks")
    disk_growth, disk_first, disk_last = growth([s.disk for s in kept])
    rss_growth, rss_first, rss_last = growth([s.rss for s in kept])
    peak = max(s.disk for s in samples) / MIB
    written = count * TASK_OUTPUT / MIB
    removed = int(metrics.get("gc/path_removals_succeeded", 0))
    common = (
        f"{count} tasks x 1 MiB ({written:,.0f} MiB written) in {elapsed:.0f} s, "
        f"{len(kept)} samples after the warm-up"
    )
    return [
        Result(
            f"work_dir disk use over {count} chatty tasks",
            "%",
            DISK_FLAT,
            [disk_growth],
            note=f"{common}; first/last quartile median {disk_first / MIB:.1f}/"
            f"{disk_last / MIB:.1f} MiB, peak {peak:.1f} MiB; {removed} sandboxes collected",
        ),
        Result(
            f"agent RSS over {count} chatty tasks",
            "%",
            RSS_FLAT,
            [rss_growth],
            note=f"{common}; first/last quartile median {rss_first / MIB:.1f}/"
            f"{rss_last / MIB:.1f} MiB",
        ),
        Result(
            f"chatty tasks finished ({count})",
            "%",
            ALL_FINISHED,
            [100 * finished / count],
            note=f"{count / elapsed:.1f} tasks/s, {written / elapsed:.0f} MiB/s of output",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    results = asyncio.run(run(parser.parse_args().quick))
    print(table(results))
    for result in results:
        print(f"{result.name}: {result.note}")
