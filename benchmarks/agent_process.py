"""A real ``dockyard agent`` subprocess for benchmarks, and a minimal client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
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
async def running_agent(*flags: str, under: Path | None = None) -> AsyncIterator[AgentProcess]:
    """An agent in a new work dir, removed when it stops unless it is ``under`` a
    scratch directory that its caller removes later (see :func:`scratch_directory`)."""
    with contextlib.ExitStack() as stack:
        if under is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dockyard-bench-")))
        else:
            tmp = Path(tempfile.mkdtemp(prefix="agent-", dir=under))
        agent = await asyncio.to_thread(start_agent, tmp / "work", tmp / "agent.log", flags)
        try:
            yield agent
        finally:
            await asyncio.to_thread(stop_agent, agent)


SCRATCH_VOLUME_BYTES = 4 << 30
"""Sparse: the rounds write a few MB into it."""


@dataclass(frozen=True)
class Scratch:
    path: Path
    where: str
    """What the work dirs are on, for the results' notes."""


@contextlib.contextmanager
def scratch_directory() -> Iterator[Scratch]:
    """Where the agents of several measured rounds leave their work dirs: a fresh ext4
    volume with a journal (a loop device) when this runs as root, else a temp dir.

    The benchmark machine's root file system is ext4 without a journal, where a new inode
    skips every free inode of its block group deleted in the last one to six minutes,
    reading each (``recently_deleted()`` in fs/ext4/ialloc.c): there, what the agent's
    sandboxes cost depended on what anything on the machine deleted minutes before (a
    test run, the previous round's clean-up: 117 against 155-197 tasks/s). On a volume of
    their own, the agent's files cost what they cost on a journaled disk, every run alike.
    Nothing is removed until the end, so that no round pays for the one before.
    """
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        image, mount_point = Path(tmp) / "volume.img", Path(tmp) / "volume"
        mount_point.mkdir()
        if not make_volume(image, mount_point):
            yield Scratch(Path(tmp), "work dirs on the temp dir's file system")
            return
        try:
            yield Scratch(mount_point, "work dirs on a fresh journaled ext4 volume")
        finally:
            subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def make_volume(image: Path, mount_point: Path) -> bool:
    """Mount a sparse ext4 image with a journal through a loop device; False where that
    cannot be done (not root, no loop devices, no mkfs.ext4)."""
    with image.open("wb") as file:
        file.truncate(SCRATCH_VOLUME_BYTES)
    for command in (
        ["mkfs.ext4", "-q", "-F", "-O", "has_journal", str(image)],
        ["mount", "-o", "loop", str(image), str(mount_point)],
    ):
        try:
            subprocess.run(command, capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return False
    return True


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
