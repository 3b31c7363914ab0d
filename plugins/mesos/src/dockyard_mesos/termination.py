"""How an ended task is reported: Mesos's command-executor messages and states."""

from __future__ import annotations

import os
import signal

from dockyard.containers import Termination
from dockyard.messages import Reason, TaskState
from dockyard.supervision.cgroups import MIB
from dockyard.supervision.protocol import ProcessRecord


def describe(status: int) -> str:
    """``Command exited with status N`` or ``Command terminated with signal <strsignal>``."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"Command terminated with signal {signal.strsignal(number) or number}"
    return f"Command exited with status {os.WEXITSTATUS(status)}"


def termination(record: ProcessRecord, memory_limit: int | None) -> Termination:
    """The Termination of an ended task; an OOM kill outranks a requested kill."""
    assert record.exit is not None
    status = record.exit.status
    if record.exit.oom:
        return Termination(
            status=status,
            state=TaskState.TASK_FAILED,
            reason=Reason.REASON_CONTAINER_LIMITATION_MEMORY,
            message=f"Memory limit exceeded: Requested: {_megabytes(memory_limit)} "
            f"Maximum Used: {_megabytes(record.exit.memory_peak)}",
        )
    if status is None:
        return Termination(
            state=TaskState.TASK_KILLED if record.killed else TaskState.TASK_FAILED,
            message="The task ended while no supervisor watched it: exit status unknown",
        )
    killed = TaskState.TASK_KILLED if record.killed else None
    return Termination(status=status, state=killed, message=describe(status))


def _megabytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / MIB:g}MB"
