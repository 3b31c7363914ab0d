"""``dockyard task ...`` and ``dockyard agent health`` run as a user runs them, in a
subprocess, against a real agent subprocess (the sample containerizer)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import make_agent  # noqa: F401 (the fixture, used below)

TIMEOUT = 60


@dataclass
class Client:
    """The ``dockyard`` client, pointed at one agent through ``DOCKYARD_AGENT``."""

    url: str
    tmp_path: Path
    env: dict[str, str]
    started: list[subprocess.Popen[str]]

    def command(self, args: tuple[str, ...], env: dict[str, str] | None) -> dict[str, Any]:
        return {
            "args": [sys.executable, "-m", "dockyard.cli", *args],
            "text": True,
            "env": {**os.environ, "DOCKYARD_AGENT": self.url, **self.env, **(env or {})},
        }

    def run(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            **self.command(args, env), input=stdin, capture_output=True, timeout=TIMEOUT
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            **self.command(args, None), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.started.append(process)
        return process

    def launch(self, task_id: str, command: str) -> dict[str, Any]:
        """Launch a task with ``task launch --json``; the Task the agent knows."""
        path = self.tmp_path / f"{task_id}.json"
        path.write_text(json.dumps(task_json(task_id, command)))
        result = self.run("task", "launch", "--json", str(path))
        assert result.returncode == 0, result.stderr
        task: dict[str, Any] = json.loads(result.stdout)
        return task


def task_json(task_id: str, command: str) -> dict[str, Any]:
    return {"name": task_id, "task_id": {"value": task_id}, "command": {"value": command}}


def read_line(process: subprocess.Popen[str]) -> str:
    """The next line the process prints, waiting for it (not a timing assertion)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=TIMEOUT):
            raise AssertionError("no line from the client")
    return process.stdout.readline()


@pytest.fixture
async def client(make_agent: Callable[..., Any], tmp_path: Path) -> AsyncIterator[Client]:  # noqa: F811
    agent = await make_agent()
    started: list[subprocess.Popen[str]] = []
    yield Client(agent.url, tmp_path, {}, started)
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()
