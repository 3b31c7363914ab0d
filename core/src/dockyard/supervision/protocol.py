"""The supervisor's wire format: one JSON object per line over a unix stream socket.

Requests carry a ``req`` number that the reply echoes; exit events carry ``event``
instead. Operations: ``spawn``, ``signal``, ``list``, ``forget``, ``exec`` (run a command in
a running task: replied to when it ends), ``cancel`` (kill an ``exec`` in flight) and
``detach`` (a client leaving: says whether the supervisor will exit). The records below are
also what the supervisor persists, minus the environment (which may hold secrets and never
touches the disk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard import json_codec

SOCKET_NAME = "supervisor.sock"
LOG_NAME = "supervisor.log"
"""Files in the plugin's state dir (the supervisor's working directory)."""

LINE_LIMIT = 16 * 1024 * 1024
"""Longest accepted line: a spawn request carries the whole task environment."""

Message = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """Where one output stream of a task goes (a container logger's destination).

    ``file``: appended to ``path``; with ``max_size`` the supervisor reads the stream from
    a pipe and rotates the file itself. ``socket``: the unix stream socket at ``path``,
    greeted with ``preamble`` (base64), which the task then writes to itself.
    """

    kind: str = "file"
    path: str
    max_size: int | None = None
    max_files: int = 0
    preamble: str = ""


@dataclass(frozen=True, kw_only=True)
class SpawnSpec:
    """Everything the supervisor needs to fork and exec one task."""

    id: str
    executable: str
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    cwd: str
    stdout: OutputSpec
    stderr: OutputSpec
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    """Cgroup directories the task joins before it execs (one per v1 hierarchy)."""
    subreaper: bool = False
    """Make the task's process a child subreaper, so that whatever it starts stays in its
    process tree (how the ``posix`` launcher tracks a task without cgroups)."""

    @classmethod
    def from_json(cls, data: Message) -> SpawnSpec:
        streams = {name: OutputSpec(**data[name]) for name in ("stdout", "stderr")}
        return cls(**{**data, **streams})

    def to_json(self) -> Message:
        """Its fields as they are (``dataclasses.asdict`` deep-copies every list and dict,
        a cost paid at every spawn for nothing: the message is serialised at once)."""
        return {**vars(self), "stdout": vars(self.stdout), "stderr": vars(self.stderr)}


@dataclass(frozen=True, kw_only=True)
class ExitInfo:
    """How a task ended. ``status`` is the raw wait(2) status, None when unknowable."""

    status: int | None
    oom: bool = False
    memory_peak: int | None = None


@dataclass(kw_only=True)
class ProcessRecord:
    """A task the supervisor started: what identifies it, and its end once known."""

    id: str
    pid: int
    start_time: float
    """``psutil`` create time: tells the task from a later process reusing its pid."""
    cgroups: list[str] = field(default_factory=list)
    killed: bool = False
    """A kill with escalation was requested: the task ends TASK_KILLED."""
    exit: ExitInfo | None = None

    @classmethod
    def from_json(cls, data: Message) -> ProcessRecord:
        exit_info = data.get("exit")
        return cls(
            id=data["id"],
            pid=data["pid"],
            start_time=data["start_time"],
            cgroups=list(data.get("cgroups", [])),
            killed=bool(data.get("killed", False)),
            exit=None if exit_info is None else ExitInfo(**exit_info),
        )

    def to_json(self) -> Message:
        """By hand: ``dataclasses.asdict`` deep-copies, some 50 times slower, and this runs
        for every reply, exit event and log line of every task."""
        ended = self.exit
        return {
            "id": self.id,
            "pid": self.pid,
            "start_time": self.start_time,
            "cgroups": list(self.cgroups),
            "killed": self.killed,
            "exit": None
            if ended is None
            else {"status": ended.status, "oom": ended.oom, "memory_peak": ended.memory_peak},
        }


def encode(message: Message) -> bytes:
    return json_codec.dumps(message) + b"\n"


def decode(line: bytes) -> Message:
    message = json_codec.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {line[:80]!r}")
    return message
