"""A real ``dockyard agent`` subprocess for benchmarks, and a minimal client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp


@dataclass
class AgentProcess:
    process: subprocess.Popen[bytes]
    url: str
    work_dir: Path

    def rss_bytes(self) -> int:
        """Resident memory of the agent process."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")


def start_agent(work_dir: Path, log: Path, flags: tuple[str, ...]) -> AgentProcess:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dockyard.cli",
                "agent",
                "--port=0",
                f"--work_dir={work_dir}",
                *flags,
            ],
            stdout=output,
            stderr=output,
        )
    return AgentProcess(process, wait_for_url(process, log), work_dir)


def stop_agent(agent: AgentProcess) -> None:
    agent.process.terminate()
    agent.process.wait(timeout=30)


@contextlib.asynccontextmanager
async def running_agent(*flags: str) -> AsyncIterator[AgentProcess]:
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        agent = await asyncio.to_thread(
            start_agent, Path(tmp) / "work", Path(tmp) / "agent.log", flags
        )
        try:
            yield agent
        finally:
            await asyncio.to_thread(stop_agent, agent)


def wait_for_url(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            if "serving on http://" in line:
                return line.split("serving on ")[1].strip()
        time.sleep(0.02)
    raise RuntimeError("agent did not start:\n" + log.read_text())


async def call(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> int:
    async with session.post(f"{url}/api/v1", json=body) as response:
        await response.read()
        return response.status


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The records of a SUBSCRIBE stream."""
    while header := await response.content.readline():
        body = await response.content.readexactly(int(header))
        yield json.loads(body)


def task_call(task_id: str, command: str) -> dict[str, Any]:
    task = {"name": task_id, "task_id": {"value": task_id}, "command": {"value": command}}
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}
