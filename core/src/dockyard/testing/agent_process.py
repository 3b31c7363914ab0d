"""An agent in a process of its own, to SIGKILL while a task runs.

:class:`AgentDriver` runs the agent in the test's process, where a crash cannot be
simulated: its plugins would keep their connections, threads and children. A real SIGKILL
needs a real process. :class:`AgentProcess` runs ``dockyard launch --json`` (the plugins
as installed, by entry point) until its task is TASK_RUNNING; the test SIGKILLs it, then
starts an :class:`AgentDriver` on the same work dir, whose ``start`` recovers the task.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from dockyard.messages import TaskInfo, TaskState
from dockyard.testing.driver import DEFAULT_TIMEOUT
from dockyard.testing.factories import as_json


class AgentProcess:
    """``dockyard launch`` of one task on ``work_dir``, with ``flags`` (e.g.
    ``--containerizers=hello``); ``async with`` SIGKILLs it at the end if still running."""

    def __init__(
        self, work_dir: Path, flags: Sequence[str] = (), *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.work_dir = work_dir
        self.flags = list(flags)
        self.timeout = timeout
        self.process: asyncio.subprocess.Process | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by sigkill)
        """The agent's stderr: a file, so that a chatty agent never blocks on a pipe."""
        self.updates: list[dict[str, object]] = []
        """The task's status updates as the agent printed them (TaskStatus JSON)."""

    async def __aenter__(self) -> AgentProcess:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.sigkill()

    async def launch(self, task: TaskInfo) -> None:
        """Start the agent with ``task``; return once the task is TASK_RUNNING.

        Fails the test if the task ends first or the agent exits.
        """
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dockyard.cli",
            "launch",
            "--json",
            f"--work_dir={self.work_dir}",
            *self.flags,
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(as_json(task)).encode())
        self.process.stdin.close()
        try:
            async with asyncio.timeout(self.timeout):
                await self._until_running()
        except TimeoutError:
            raise AssertionError(
                f"the task was not TASK_RUNNING within {self.timeout}s: {self.updates}"
            ) from None

    async def _until_running(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            update = json.loads(line)
            self.updates.append(update)
            if update.get("state") == TaskState.TASK_RUNNING.name:
                return
        await self.process.wait()
        self._log.seek(0)
        errors = self._log.read().decode(errors="replace")
        raise AssertionError(f"the agent exited before the task ran: {self.updates}\n{errors}")

    async def sigkill(self) -> None:
        """SIGKILL the agent (its tasks keep running, as after a crash) and reap it."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.communicate()
        self._log.close()
