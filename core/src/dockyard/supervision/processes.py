"""The typed front of the library: spawn a process, checkpoint its handle, learn its end.

A :class:`ProcessSupervisor` talks to the state dir's supervisor daemon
(:mod:`dockyard.supervision.server`), which spawns, reaps and records every process, so a
process outlives the agent that asked for it and its real end (wait status, or that it was
killed, or ran out of memory) is still known after the agent is SIGKILLed and restarted.
The plugin only checkpoints :attr:`SupervisedProcess.handle` (the core does that with
``Launched.handle``) and gives it back to :meth:`ProcessSupervisor.recover`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard.containers import Termination
from dockyard.messages import TaskState
from dockyard.supervision import cgroups
from dockyard.supervision.client import SupervisorClient, SupervisorError
from dockyard.supervision.command import Identity
from dockyard.supervision.protocol import OutputSpec, ProcessRecord, SpawnSpec
from dockyard.supervision.records import id_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ProcessExit:
    """How a supervised process ended."""

    status: int | None
    """The raw ``wait(2)`` status (``Termination.status``); None when it ended while no
    supervisor watched it (the daemon itself was killed), so nobody could reap it."""
    killed: bool = False
    """:meth:`SupervisedProcess.kill` was asked for before it ended."""
    out_of_memory: bool = False
    """The kernel's OOM killer hit its memory cgroup."""
    memory_peak: int | None = None

    @property
    def exit_code(self) -> int | None:
        """Its exit code, None if a signal ended it (or the status is unknown)."""
        if self.status is None or not os.WIFEXITED(self.status):
            return None
        return os.WEXITSTATUS(self.status)

    @property
    def signal(self) -> int | None:
        """The signal that ended it, None if it exited (or the status is unknown)."""
        if self.status is None or not os.WIFSIGNALED(self.status):
            return None
        return os.WTERMSIG(self.status)

    def termination(self) -> Termination:
        """What a containerizer's ``wait`` returns: the core words the status as Mesos does
        (``Container exited with status 3``, ``... terminated with signal Killed``)."""
        state = TaskState.TASK_KILLED if self.killed else None
        if self.status is None:
            return Termination(
                state=state or TaskState.TASK_FAILED,
                message="The process ended while no supervisor watched it: exit status unknown",
            )
        return Termination(status=self.status, state=state)

    @classmethod
    def of(cls, record: ProcessRecord) -> ProcessExit:
        assert record.exit is not None
        return cls(
            status=record.exit.status,
            killed=record.killed,
            out_of_memory=record.exit.oom,
            memory_peak=record.exit.memory_peak,
        )


class SupervisedProcess:
    """A process the supervisor started; valid across restarts of the agent."""

    def __init__(self, supervisor: ProcessSupervisor, process_id: str) -> None:
        self.id = process_id
        self.pid = 0
        self.start_time = 0.0
        self._supervisor = supervisor
        self._exit: asyncio.Future[ProcessExit] = asyncio.get_running_loop().create_future()

    @property
    def handle(self) -> dict[str, Any]:
        """What to checkpoint (``Launched.handle``) to find it again with ``recover``."""
        return {"pid": self.pid, "start_time": self.start_time}

    @property
    def exit(self) -> ProcessExit | None:
        """Its end once known, else None."""
        return self._exit.result() if self._exit.done() else None

    async def wait(self) -> ProcessExit:
        """Until it has ended and every process it left has been killed; any number of
        callers, at once or after the end."""
        return await asyncio.shield(self._exit)

    async def signal(self, number: int) -> bool:
        """Send ``number`` to its process group; False if it has ended."""
        if self._exit.done():
            return False
        return await self._supervisor.client.signal(self.id, number)

    async def kill(self, grace_period: timedelta) -> ProcessExit:
        """SIGTERM all of it (process group, process tree, cgroup), SIGKILL what is left
        after ``grace_period``; returns its end. The daemon runs the timer, so the SIGKILL
        comes even if the agent dies meanwhile."""
        if not self._exit.done():
            seconds = max(grace_period.total_seconds(), 0.0)
            await self._supervisor.client.signal(self.id, signal.SIGTERM, seconds)
        return await self.wait()

    def _attach(self, record: ProcessRecord) -> None:
        self.pid, self.start_time = record.pid, record.start_time
        if record.exit is not None:
            self._ended(record)

    def _ended(self, record: ProcessRecord) -> None:
        if not self._exit.done():
            self._exit.set_result(ProcessExit.of(record))


class ProcessSupervisor:
    """Crash-safe supervision of one backend's processes, kept in ``state_dir``.

    ``cgroups_under`` (a path relative to the cgroup hierarchy's root, e.g.
    ``dockyard/<agent id>/<plugin>``) gives every process a cgroup of its own there when
    the host has writable cgroups, so that nothing it starts escapes a kill, however it
    forks or calls setsid. Without it, or without writable cgroups, each process is a
    child subreaper: its orphans stay in its process tree and die with it.
    """

    def __init__(self, state_dir: Path, *, cgroups_under: Path | None = None) -> None:
        self._state_dir = state_dir
        self._cgroups_under = cgroups_under
        self._hierarchy: cgroups.Hierarchy | None = None
        self._processes: dict[str, SupervisedProcess] = {}
        self._client: SupervisorClient | None = None

    @property
    def client(self) -> SupervisorClient:
        if self._client is None:
            raise SupervisorError("the process supervisor is not started")
        return self._client

    async def start(self) -> None:
        """Connect to the state dir's supervisor daemon, starting it if none runs."""
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._state_dir.chmod(0o700)  # holds the socket that spawns processes as any user
        if self._cgroups_under is not None:
            self._hierarchy = _writable_hierarchy(self._cgroups_under)
        client = SupervisorClient(self._state_dir, self._on_exit)
        await client.connect()
        self._client = client

    async def close(self) -> None:
        """Disconnect; running processes keep running, watched by the daemon (which exits
        once none is left)."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._hierarchy is not None and self._cgroups_under is not None:  # if empty
            cgroups.remove_with_parents(self._hierarchy.at(self._cgroups_under).paths(), keep=())

    def get(self, process_id: str) -> SupervisedProcess | None:
        return self._processes.get(process_id)

    async def spawn(
        self,
        process_id: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        stdout: OutputSpec,
        stderr: OutputSpec,
        executable: str | None = None,
        user: Identity | None = None,
    ) -> SupervisedProcess:
        """Start ``argv`` (``executable``, default ``argv[0]``, is searched on ``env``'s
        PATH) in ``cwd`` as ``user``, in its own session and process group, with stdin
        ``/dev/null``. Raises :class:`SupervisorError` naming the step that failed.

        ``process_id`` names it for the daemon (one path component, e.g. a container id):
        it must be unique among the processes the daemon remembers.
        """
        _check_spawn(process_id, argv, env)
        if process_id in self._processes:
            raise SupervisorError(f"Process '{process_id}' already exists")
        process = SupervisedProcess(self, process_id)
        self._processes[process_id] = process  # its exit may be pushed before the reply
        task_cgroups = None
        try:
            if self._hierarchy is not None and self._cgroups_under is not None:
                task_cgroups = self._hierarchy.create(
                    self._cgroups_under / process_id, cgroups.Limits()
                )
            spec = SpawnSpec(
                id=process_id,
                executable=executable or argv[0],
                argv=list(argv),
                env=dict(env),
                cwd=str(cwd),
                stdout=stdout,
                stderr=stderr,
                uid=None if user is None else user.uid,
                gid=None if user is None else user.gid,
                groups=[] if user is None else user.groups,
                cgroups=[] if task_cgroups is None else task_cgroups.paths(),
                subreaper=task_cgroups is None,
            )
            spawning = asyncio.ensure_future(self.client.spawn(spec))
            # A cancelled caller must not lose a process the daemon started anyway: it stays
            # known (a destroy finds it) once the spawn completes.
            spawning.add_done_callback(lambda done: _attach_if_spawned(process, done))
            await asyncio.shield(spawning)
        except asyncio.CancelledError:
            raise
        except (OSError, SupervisorError) as error:
            self._forget_locally(process)
            if task_cgroups is not None:
                cgroups.remove(task_cgroups.paths())
            raise SupervisorError(str(error)) from error
        return process

    async def recover(
        self, handles: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, SupervisedProcess]:
        """After a restart: reattach the processes named by their checkpointed handles.

        Returns those found, running or ended meanwhile (their end is then known at once).
        Every other process the daemon remembers is an orphan: killed and forgotten. An
        empty handle (the agent died after the spawn but before its checkpoint) adopts
        whatever process has that id.
        """
        for process_id in handles:  # first, so that exits pushed meanwhile count
            self._processes.setdefault(process_id, SupervisedProcess(self, process_id))
        found: dict[str, SupervisedProcess] = {}
        for record in await self.client.list():
            handle = handles.get(record.id)
            if handle is not None and _same_launch(record, handle):
                found[record.id] = self._processes[record.id]
                found[record.id]._attach(record)
                continue
            log.info("cleaning up orphan process %s", record.id)
            await self.forget(record.id)
        for process_id in set(handles) - set(found):
            log.warning("no process of the supervisor matches the handle of %s", process_id)
            self._processes.pop(process_id, None)
        return found

    async def forget(self, process_id: str) -> None:
        """Drop a process and its record; one still running is SIGKILLed first."""
        self._processes.pop(process_id, None)
        await self.client.forget(process_id)

    def _forget_locally(self, process: SupervisedProcess) -> None:
        if self._processes.get(process.id) is process:
            del self._processes[process.id]

    def _on_exit(self, record: ProcessRecord) -> None:
        process = self._processes.get(record.id)
        if process is not None and process.pid in (0, record.pid):
            process._ended(record)


def _check_spawn(process_id: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Refuse, naming the field, what could only fail later or less clearly."""
    problem = id_problem(process_id)
    if problem is not None:
        raise SupervisorError(f"Invalid process id: {problem}")
    if not argv:
        raise SupervisorError("argv must name the program to run: it is empty")
    if any("\0" in argument for argument in argv):
        raise SupervisorError("argv: an argument holds NUL")
    for name, value in env.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise SupervisorError(
                f"Environment variable {name!r}: a name must be non-empty without '=' or NUL, "
                "a value without NUL"
            )


def _attach_if_spawned(process: SupervisedProcess, spawning: asyncio.Future[ProcessRecord]) -> None:
    if spawning.cancelled() or spawning.exception() is not None:
        process._supervisor._forget_locally(process)
    else:
        process._attach(spawning.result())


def _same_launch(record: ProcessRecord, handle: Mapping[str, Any]) -> bool:
    """Whether the record is the launch the handle names (not an earlier one with the same
    id), or the handle names none."""
    if not handle:
        return True
    return (handle.get("pid"), handle.get("start_time")) == (record.pid, record.start_time)


def _writable_hierarchy(under: Path) -> cgroups.Hierarchy | None:
    """A cgroup hierarchy to track processes in, if the host has one we may write."""
    try:
        hierarchy = cgroups.find_hierarchy(cgroups.TRACKING_CONTROLLERS)
        if hierarchy is None:
            return None
        probe = hierarchy.create(under / ".probe", cgroups.Limits())
        cgroups.remove(probe.paths())
    except OSError as error:
        log.info("no writable cgroups (%s): tracking processes as child subreapers", error)
        return None
    return hierarchy
