"""Commands the supervisor runs inside a running task (COMMAND health checks).

Each one is spawned like a task (the task's sandbox, user and cgroups) but is not
recorded: it lives only as long as the client that asked for it, its time limit and its
task. Whatever ends it, its whole process group is SIGKILLed while its pid is still held,
so nothing it started in that group outlives it. Spawned as a subreaper (a task without
cgroups), what it started elsewhere is handed to the supervisor when it ends, and killed
as a stray; in the task's cgroups, it dies with the task at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.supervision.protocol import SpawnSpec
from dockyard.supervision.spawn import Home, spawn

Reply = Callable[[int], None]
"""Receives the command's raw ``wait(2)`` status once it is reaped."""


@dataclass(eq=False)
class _Command:
    task_id: str
    owner: object
    """The client that asked for it: its commands die when it disconnects."""
    request: int
    reply: Reply
    deadline: asyncio.TimerHandle


class Commands:
    """The running commands, by pid; the supervisor reaps them and reports here."""

    def __init__(self, home: Home) -> None:
        self._home = home
        self._running: dict[int, _Command] = {}
        self._loop = asyncio.get_running_loop()

    def start(
        self,
        spec: SpawnSpec,
        out: int,
        err: int,
        time_limit: float,
        owner: object,
        request: int,
        reply: Reply,
    ) -> None:
        """Spawn ``spec`` writing to ``out`` and ``err`` (raises SpawnError), and SIGKILL it
        after ``time_limit`` seconds."""
        pid = spawn(spec, self._home, out, err)
        deadline = self._loop.call_later(max(time_limit, 0.0), _kill_group, pid)
        self._running[pid] = _Command(spec.id, owner, request, reply, deadline)

    def pids(self) -> set[int]:
        return set(self._running)

    def reaping(self, pid: int) -> bool:
        """Called before ``pid`` is reaped: kill what is left in its group; is it ours?"""
        if pid not in self._running:
            return False
        _kill_group(pid)
        return True

    def reaped(self, pid: int, status: int) -> None:
        command = self._running.pop(pid, None)
        if command is not None:
            command.deadline.cancel()
            command.reply(status)

    def cancel(self, owner: object, request: int) -> bool:
        """Kill the command a client asked for with request number ``request``."""
        return self._kill_where(lambda c: c.owner is owner and c.request == request) > 0

    def kill_of_task(self, task_id: str) -> None:
        """The task ended: its commands end with it."""
        self._kill_where(lambda command: command.task_id == task_id)

    def signal_of_task(self, task_id: str, number: int) -> set[int]:
        """The task is being killed: its commands get the same signal. Returns their pids,
        which are their process groups."""
        pids = {pid for pid, command in self._running.items() if command.task_id == task_id}
        for pid in pids:
            _kill_group(pid, number)
        return pids

    def kill_of_client(self, owner: object) -> None:
        """Nobody waits for these any more."""
        self._kill_where(lambda command: command.owner is owner)

    def kill_all(self) -> None:
        self._kill_where(lambda _: True)

    def _kill_where(self, chosen: Callable[[_Command], bool]) -> int:
        pids = [pid for pid, command in self._running.items() if chosen(command)]
        for pid in pids:
            _kill_group(pid)
        return len(pids)


def _kill_group(pid: int, number: int = signal.SIGKILL) -> None:
    """Signal a command's process group (its own session); unreaped, its pid is still ours."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, number)
