"""Tasks through the HTTP API: throughput with every status delivered, and agent memory.

- ``N native tasks through the HTTP API``: ``true`` tasks launched over HTTP, 50 in
  flight, until a subscriber has seen every task's terminal update; tasks/second,
  beside the bare baseline of the same run: asyncio subprocesses running the same
  ``true`` with 50 in flight.
- ``agent RSS per running native task``: agent (plus supervisor) resident memory
  growth divided by the number of ``sleep`` tasks running.
- ``agent RSS growth over a soak``: the agent's RSS after a long stream of short
  tasks, less its RSS after the first thousand (completed tasks must leave memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.agent_process import (
    AgentProcess,
    call,
    events,
    running_agent,
    scratch_directory,
    task_call,
)
from benchmarks.harness import Result, Target

STATUSES_PER_TASK = 4
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}


def client() -> aiohttp.ClientSession:
    """Without aiohttp's default 5-minute limit, which a soak's SUBSCRIBE stream outlasts."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))


async def launch_all(
    agent: AgentProcess,
    session: aiohttp.ClientSession,
    ids: list[str],
    command: str,
    in_flight: int = 50,
) -> None:
    gate = asyncio.Semaphore(in_flight)

    async def one(task_id: str) -> None:
        async with gate:
            status = await call(session, agent.url, task_call(task_id, command))
            if status != 202:
                raise RuntimeError(f"launch of {task_id} answered {status}")

    await asyncio.gather(*(one(task_id) for task_id in ids))


async def bare_spawning(count: int, in_flight: int = 50) -> float:
    """What the machine allows: ``true`` as asyncio subprocesses, ``in_flight`` at once."""
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            process = await asyncio.create_subprocess_exec("true")
            await process.wait()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def throughput(count: int, scratch: Path | None = None) -> tuple[float, int, CpuPerTask]:
    """Tasks per second, statuses delivered to the subscriber, and the CPU time the agent
    and its supervisor spent per task meanwhile (after one warm-up task started both)."""
    async with (
        running_agent("--containerizers=mesos", under=scratch) as agent,
        client() as session,
    ):
        stream = await session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"})
        ids = [f"load-{n}" for n in range(count)]
        await launch_all(agent, session, ["warm-up"], "true")
        processes = [agent.process.pid, *supervisor_pids(agent)]
        spent_before = [cpu_seconds(pid) for pid in processes]
        finished: set[str] = set()
        delivered = 0
        started = time.perf_counter()
        launching = asyncio.create_task(launch_all(agent, session, ids, "true"))
        async for event in events(stream):
            if event["type"] != "TASK_UPDATED":
                continue
            status = event["task_updated"]["status"]
            if status["task_id"]["value"] == "warm-up":
                continue
            delivered += 1
            if status["state"] in TERMINAL:
                finished.add(status["task_id"]["value"])
                if len(finished) == count:
                    break
        elapsed = time.perf_counter() - started
        spent = [
            cpu_seconds(pid) - before for pid, before in zip(processes, spent_before, strict=True)
        ]
        await launching
        stream.close()
        cpu = CpuPerTask(agent=spent[0] / count * 1e3, supervisor=sum(spent[1:]) / count * 1e3)
        return count / elapsed, delivered, cpu


@dataclass
class CpuPerTask:
    """Milliseconds of CPU (user + system, children excluded) per task."""

    agent: float
    supervisor: float


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (``/proc/<pid>/stat``), its children not."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def supervisor_pids(agent: AgentProcess) -> list[int]:
    """The mesos plugin's supervisor processes started for this work dir."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
        except OSError:
            continue
        if b"dockyard.supervision.server" in text and str(agent.work_dir).encode() in text:
            found.append(int(cmdline.parent.name))
    return found


def supervisor_rss(agent: AgentProcess) -> int:
    """RSS of the mesos plugin's supervisor processes started for this work dir."""
    total = 0
    for pid in supervisor_pids(agent):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


async def rss_per_task(count: int) -> float:
    async with running_agent("--containerizers=mesos") as agent, client() as session:
        await launch_all(agent, session, ["warm-up"], "true")
        await asyncio.sleep(1)
        before = agent.rss_bytes() + supervisor_rss(agent)
        ids = [f"sleep-{n}" for n in range(count)]
        await launch_all(agent, session, ids, "sleep 120")
        await asyncio.sleep(2)
        after = agent.rss_bytes() + supervisor_rss(agent)
        for task_id in ids:
            await call(
                session,
                agent.url,
                {"type": "KILL_TASK", "kill_task": {"task_id": {"value": task_id}}},
            )
        return (after - before) / count / 1024 / 1024


async def soak(count: int, warm_up: int = 1000) -> float:
    """Agent RSS growth (MB) from after ``warm_up`` tasks to after ``count``."""
    async with running_agent("--containerizers=mesos") as agent, client() as session:
        stream = await session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"})
        finished = 0
        before = 0
        launching = asyncio.create_task(
            launch_all(agent, session, [f"soak-{n}" for n in range(count)], "true")
        )
        async for event in events(stream):
            if event["type"] != "TASK_UPDATED":
                continue
            if event["task_updated"]["status"]["state"] in TERMINAL:
                finished += 1
                if finished == warm_up:
                    before = agent.rss_bytes()
                if finished == count:
                    break
        await launching
        stream.close()
        return (agent.rss_bytes() - before) / 1024 / 1024


async def run(quick: bool) -> list[Result]:
    count = 100 if quick else 500
    rates, bare, delivered, cpu = [], [], [], []
    with scratch_directory() as scratch:
        for _ in range(1 if quick else 3):
            bare.append(await bare_spawning(count))
            rate, statuses, spent = await throughput(count, scratch.path)
            rates.append(rate)
            delivered.append(100 * statuses / (STATUSES_PER_TASK * count))
            cpu.append(spent)
        where = scratch.where
    root_disk = [(await throughput(count))[0]]
    rss = [await rss_per_task(20 if quick else 100)]
    soak_count = 3000 if quick else 20_000
    growth = [await soak(soak_count)]
    return [
        Result(
            f"{count} native tasks through the HTTP API",
            "tasks/s",
            Target(">= 0.5x bare spawning", "throughput", 0.5),
            rates,
            baseline=bare,
            baseline_name="asyncio subprocesses",
            note="launched over HTTP, 50 in flight, until a subscriber saw every terminal "
            f"update; {where}",
        ),
        Result(
            f"{count} native tasks through the HTTP API, absolute",
            "tasks/s",
            Target(">= 400 tasks/s", "at_least", 400.0),
            rates,
            note=f"the same runs; the issue's absolute goal on the 2-core machine; {where}",
        ),
        Result(
            f"{count} native tasks through the HTTP API, work dir under /tmp",
            "tasks/s",
            Target("report", "report"),
            root_disk,
            note="one more run on the temp dir's file system (ext4 without a journal on the "
            "benchmark machine: it depends on what was deleted there in the last minutes)",
        ),
        Result(
            f"statuses delivered to a subscriber ({count} tasks)",
            "%",
            Target("all (100%)", "at_least", 100.0),
            delivered,
            note=f"{STATUSES_PER_TASK} per task expected (STAGING, STARTING, RUNNING, FINISHED)",
        ),
        Result(
            f"agent CPU per task ({count} tasks through the HTTP API)",
            "ms",
            Target("report", "report"),
            [spent.agent for spent in cpu],
            note="user + system time of the agent process over the same runs",
        ),
        Result(
            f"supervisor CPU per task ({count} tasks through the HTTP API)",
            "ms",
            Target("report", "report"),
            [spent.supervisor for spent in cpu],
            note="user + system time of the mesos plugin's supervisor, its tasks not counted",
        ),
        Result(
            "agent RSS per running native task",
            "MB",
            Target("< 2 MB", "below", 2.0),
            rss,
            note="agent + supervisor RSS growth / running tasks",
        ),
        Result(
            f"agent RSS growth over {soak_count} tasks",
            "MB",
            Target("< 20 MB", "below", 20.0),
            growth,
            note="RSS after every task ended, less RSS after the first 1000",
        ),
    ]
