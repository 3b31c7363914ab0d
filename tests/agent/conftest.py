"""A real ``dockyard agent`` subprocess, driven over HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..conftest import SAMPLE_PLUGINS
from .recordio import follow_until_state

TERMINAL = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_GONE",
        "TASK_DROPPED",
    }
)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="tasks run as nobody: needs root")


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory ``nobody`` can traverse (pytest's tmp dirs are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="dockyard-agent-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


async def polled(check: Callable[[], object]) -> None:
    """Wait until ``check()`` (a function or a coroutine function) is truthy, asking
    every 50 ms for up to two minutes: for states that no event announces (held
    updates, storage health, a process's end)."""
    async with asyncio.timeout(120):
        while True:
            answer = check()
            if inspect.isawaitable(answer):
                answer = await answer
            if answer:
                return
            await asyncio.sleep(0.05)


@dataclass
class RunningAgent:
    process: subprocess.Popen[bytes]
    url: str
    work_dir: Path
    session: aiohttp.ClientSession
    operator_auth: tuple[str, str] | None = None
    """Credentials the helpers below (and the clean-up) use; ``call`` only uses its own."""
    log: Path | None = None
    """Where the agent's stdout and stderr go."""

    async def call(
        self, body: Any, *, auth: tuple[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        data = body if isinstance(body, str) else json.dumps(body)
        headers = {"Content-Type": "application/json", **basic_auth(auth)}
        response = await self.session.post(f"{self.url}/api/v1", data=data, headers=headers)
        await response.read()
        return response

    async def call_json(self, body: Any) -> Any:
        response = await self.call(body, auth=self.operator_auth)
        assert response.status == 200, await response.text()
        return await response.json()

    async def tasks(self) -> dict[str, Any]:
        body = await self.call_json({"type": "GET_TASKS"})
        tasks = body["get_tasks"]
        return {
            t["task_id"]["value"]: t
            for key in ("launched_tasks", "completed_tasks")
            for t in tasks.get(key, [])
        }

    async def healthy(self) -> bool:
        healthy: bool = (await self.call_json({"type": "GET_HEALTH"}))["get_health"]["healthy"]
        return healthy

    async def metrics(self) -> dict[str, float]:
        async with self.session.get(f"{self.url}/metrics/snapshot") as response:
            snapshot: dict[str, float] = await response.json()
            return snapshot

    async def wait_for_state(self, task_id: str, *states: str) -> dict[str, Any]:
        """The task once it is in one of ``states``, followed on the SUBSCRIBE stream."""

        async def current() -> dict[str, Any] | None:
            return (await self.tasks()).get(task_id)

        async with asyncio.timeout(60):
            return await follow_until_state(
                self.session, self.url, current, states, basic_auth(self.operator_auth)
            )


def basic_auth(auth: tuple[str, str] | None) -> dict[str, str]:
    """The ``Authorization`` header for ``(principal, secret)``, UTF-8 encoded."""
    if auth is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}


def start_agent(work_dir: Path, log: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start an agent (on a free port unless ``--port`` is given).

    Its log goes to ``log`` so that it can never block on a full pipe.
    """
    port = [] if any(flag.startswith("--port=") for flag in flags) else ["--port=0"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dockyard.cli",
                "agent",
                *port,
                f"--work_dir={work_dir}",
                *flags,
            ],
            stderr=output,
            stdout=output,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            if "serving on http://" in line:
                return process, line.split("serving on ")[1].strip()
        time.sleep(0.02)
    process.kill()
    raise AssertionError("agent did not start:\n" + log.read_text())


def stop_agent(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@pytest.fixture
async def make_agent(
    tmp_path: Path, install_plugins: Callable[[Path], None]
) -> AsyncIterator[Callable[..., Any]]:
    """Start agents (default: the sample containerizer); all are stopped at the end."""
    install_plugins(SAMPLE_PLUGINS)
    started: list[RunningAgent] = []
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def make(
        *flags: str, work_dir: Path | None = None, operator_auth: tuple[str, str] | None = None
    ) -> RunningAgent:
        work = work_dir or tmp_path / "work"
        log = tmp_path / f"agent-{len(started)}.log"
        process, url = await asyncio.to_thread(
            start_agent, work, log, *(flags or ("--containerizers=sample",))
        )
        agent = RunningAgent(process, url, work, session, operator_auth, log)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        if agent.process.poll() is None:
            try:
                for task_id, task in (await agent.tasks()).items():
                    if task["state"] not in TERMINAL:
                        await agent.call(
                            {"type": "KILL_TASK", "kill_task": {"task_id": {"value": task_id}}},
                            auth=agent.operator_auth,
                        )
                        await agent.wait_for_state(
                            task_id, "TASK_KILLED", "TASK_FINISHED", "TASK_FAILED"
                        )
            finally:
                stop_agent(agent.process)
    await session.close()
    for agent in started:
        kill_leftovers(agent.work_dir)


def processes_of(directory: Path) -> list[int]:
    """Task processes whose sandbox is in ``directory`` (found by their MESOS_DIRECTORY)."""
    marker = f"MESOS_DIRECTORY={directory}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes():
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def kill_leftovers(work_dir: Path) -> None:
    """Kill what a test left running for this work dir: supervisors and task processes."""
    marker = str(work_dir).encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            found = (
                marker in (proc / "cmdline").read_bytes()
                or marker in (proc / "environ").read_bytes()
            )
            if found and int(proc.name) != os.getpid():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
    with contextlib.suppress(ImportError, FileNotFoundError):  # the mesos plugin's cgroups
        from tests.mesos.harness import remove_agent_cgroups

        remove_agent_cgroups((work_dir / "meta" / "agent_id").read_text().strip())
