"""Commands run inside a running container, as ``docker exec`` runs a COMMAND health check.

The Engine has no "kill this exec" call, so a command that outlives its time limit is killed
through its host pid (``exec inspect`` gives it), with every process it started.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from docker import APIClient
from docker.errors import APIError, NotFound
from dockyard.messages import CommandInfo

from dockyard_docker.run_config import variable_value

log = logging.getLogger(__name__)

PROC = Path("/proc")
START_WAIT = 30.0
"""Seconds a kill waits for an exec the Engine has not started yet."""
START_POLL = 0.05


class NotRunning(Exception):
    """The container is gone or stopped: there is nothing to run the command in."""


def exec_argv(command: CommandInfo) -> list[str]:
    """``sh -c value`` for a shell command, else ``value`` followed by the arguments."""
    if command.shell:
        return ["sh", "-c", command.value or ""]
    return [command.value, *command.arguments] if command.value else list(command.arguments)


def create(api: APIClient, docker_id: str, command: CommandInfo) -> str:
    """Blocking: register the exec; its id. The command's environment adds to the task's."""
    variables = command.environment.variables if command.environment else []
    try:
        created: dict[str, Any] = api.exec_create(
            docker_id,
            exec_argv(command),
            environment={v.name: variable_value(v) for v in variables},
            user=command.user or "",
        )
    except APIError as error:
        if isinstance(error, NotFound) or error.status_code == 409:
            raise NotRunning(str(error.explanation)) from None
        raise
    return str(created["Id"])


def run(api: APIClient, exec_id: str) -> int:
    """Blocking: run the exec to its end (output read and dropped); its raw wait(2) status."""
    for _ in api.exec_start(exec_id, stream=True):
        pass
    code = api.exec_inspect(exec_id).get("ExitCode")
    return (int(code) & 0xFF) << 8 if code is not None else signal.SIGKILL


def kill(api: APIClient, exec_id: str, docker_id: str) -> None:
    """Blocking: SIGKILL the exec's process and its descendants, if it still runs."""
    pid = started_pid(api, exec_id)
    if pid is None:
        return
    if not in_container(pid, docker_id):
        log.warning(
            "Cannot kill command %s of container %s: its pid %d is not visible from here",
            exec_id[:12],
            docker_id[:12],
            pid,
        )
        return
    kill_tree(pid)


def started_pid(api: APIClient, exec_id: str) -> int | None:
    """The exec's host pid once it runs; None once it has ended. A kill can come before the
    Engine has started the process: it is then waited for, so that it cannot escape."""
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        try:
            inspected = api.exec_inspect(exec_id)
        except NotFound:  # its container is gone, and the exec with it
            return None
        pid = int(inspected.get("Pid") or 0)
        if inspected.get("Running") and pid > 0:
            return pid
        if inspected.get("ExitCode") is not None:
            return None
        time.sleep(START_POLL)
    return None


def in_container(pid: int, docker_id: str) -> bool:
    """Whether ``pid`` (as the Engine sees it) is, here, a process of that container: its
    cgroup names the container, so a pid from another pid namespace is never killed."""
    try:
        return docker_id in (PROC / str(pid) / "cgroup").read_text()
    except OSError:
        return False


def kill_tree(pid: int) -> None:
    """Stop ``pid`` and, top down, every descendant (a stopped process cannot fork, so none
    escapes), then kill them all."""
    stopped: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        if send(current, signal.SIGSTOP):
            stopped.append(current)
            pending.extend(children(current))
    for each in stopped:
        send(each, signal.SIGKILL)


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def send(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
