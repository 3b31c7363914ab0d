"""The per-agent supervisor: ``python -m dockyard.supervision.server --state-dir DIR``.

One small process per agent work dir spawns every task, reaps it and records its exit, so
tasks outlive the agent and no task costs an interpreter of its own (Mesos runs one
executor process per task). It is a child subreaper, so a task's orphaned descendants are
reaped here too. Clients (the plugin) talk JSON lines over ``DIR/supervisor.sock``; every
connected client gets each exit as it happens, then the exit is written durably (appended to
``DIR/tasks.log``, one fsync per event-loop batch: :mod:`dockyard.supervision.records`). A
new supervisor adopts the tasks an old one left running (checked by start time) but cannot
learn their exit status. It also runs commands inside a running task for its client
(:mod:`dockyard.supervision.execs`).

Nothing a task started outlives it: when its process ends, whatever is left in its cgroups
or, for a task without cgroups, among the supervisor's children (see :meth:`_strays`) is
SIGKILLed, and the exit is pushed only once all of it has exited
(:mod:`dockyard.supervision.leftovers`).

It exits when it has nothing left to do, leaving the records on disk: at once when the last
client *detaches* while no task runs (so a one-shot ``dockyard launch`` leaves no process
behind), and a few seconds after the last client vanished or the last task ended otherwise
(an agent that died with tasks running finds it still there).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dockyard.supervision import cgroups, leftovers
from dockyard.supervision.execs import Commands
from dockyard.supervision.output import TaskOutput
from dockyard.supervision.protocol import (
    LINE_LIMIT,
    SOCKET_NAME,
    ExitInfo,
    Message,
    ProcessRecord,
    SpawnSpec,
    decode,
    encode,
)
from dockyard.supervision.records import RecordLog, id_problem
from dockyard.supervision.spawn import (
    Home,
    SpawnError,
    become_child_subreaper,
    raise_file_limit,
    spawn,
)
from dockyard.supervision.start_times import boot_clock, child_start_time, start_time

LOCK_NAME = "supervisor.lock"
PID_NAME = "supervisor.pid"
IDLE_EXIT_SECONDS = 5.0
LOCK_TIMEOUT_SECONDS = 10.0
CGROUP_REMOVAL_DELAYS = (0.01, 0.05, 0.25, 1.0, 5.0)
PEER_CREDENTIALS = struct.calcsize("3i")
"""``struct ucred``: pid, uid, gid of the process at the other end of a unix socket."""

log = logging.getLogger("dockyard.supervision.server")


@dataclass(eq=False)
class _Task:
    record: ProcessRecord
    pidfd: int | None = None
    """Only for a task adopted from an earlier supervisor: it is not our child."""
    oom_notifier: int | None = None
    """v1 only: readable when the task's memory cgroup runs out of memory."""
    out_of_memory: bool = False
    escalation: asyncio.TimerHandle | None = None
    escalation_deadline: float = 0.0
    forget_on_exit: bool = False
    output: TaskOutput | None = None
    """Where its stdout and stderr go; None for a task adopted from an earlier supervisor."""
    ended: bool = False
    """Its process has been reaped; what it left is being killed before its exit is told."""

    @property
    def running(self) -> bool:
        return not self.ended and self.record.exit is None


class Supervisor:
    def __init__(self, store: RecordLog, listener: socket.socket) -> None:
        self._store = store
        self._listener = listener
        self._tasks: dict[str, _Task] = {}
        self._by_pid: dict[int, _Task] = {}
        self._unended: set[str] = set()
        """Ids of the tasks whose exit is not known yet (counted at every spawn and exit)."""
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._leaving: asyncio.StreamWriter | None = None
        """The last client, detached with nothing left to run: exit once it and the tasks
        being forgotten are gone."""
        self._idle: asyncio.TimerHandle | None = None
        self._stopped = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._pid = os.getpid()
        self._home = Home(cgroups.own_cgroups())
        self._commands = Commands(self._home)
        self._cleanups: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        self._loop.add_signal_handler(signal.SIGCHLD, self._reap)
        for number in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(number, self._stopped.set)
        for record in self._store.load():
            self._adopt(record)
        self._server = await asyncio.start_unix_server(
            self._serve_client, sock=self._listener, limit=LINE_LIMIT
        )
        self._arm_idle()
        async with self._server:
            await self._stopped.wait()
            self._commands.kill_all()
            await asyncio.gather(*self._cleanups)  # exits being told: tell them
            for client in list(self._clients):
                client.close()
            for task in self._tasks.values():
                if task.output is not None:
                    task.output.close()
            self._store.close()
            self._home.close()
        log.info("supervisor exiting; %d task(s) still running", self._running())

    # -- tasks ------------------------------------------------------------------------

    def _spawn(self, spec: SpawnSpec) -> ProcessRecord:
        problem = id_problem(spec.id)
        if problem is not None:
            raise SpawnError(f"Invalid process id: {problem}")
        if spec.id in self._tasks:
            raise SpawnError(f"Task '{spec.id}' already exists")
        output = TaskOutput.open(spec)
        try:
            with output.for_task() as (out, err):
                before = boot_clock()
                pid = spawn(spec, self._home, out, err)
                after = boot_clock()
        except BaseException:
            output.close()
            raise
        started = child_start_time(pid, before, after)
        record = ProcessRecord(id=spec.id, pid=pid, start_time=started, cgroups=spec.cgroups)
        try:
            self._store.add(record)
        except OSError as error:  # untracked, it could not be recovered: better not run it
            os.killpg(pid, signal.SIGKILL)
            output.close()
            raise SpawnError(f"Failed to record the task: {error.strerror}") from error
        self._track(_Task(record, output=output))
        return record

    def _track(self, task: _Task) -> None:
        self._tasks[task.record.id] = task
        if task.record.exit is None:
            self._unended.add(task.record.id)
            self._by_pid[task.record.pid] = task
            self._watch_memory(task)
        self._arm_idle()

    def _watch_memory(self, task: _Task) -> None:
        """As Mesos, end a task at its first OOM kill, even if its main process survived."""
        try:
            task.oom_notifier = cgroups.oom_notifier(task.record.cgroups)
        except OSError as error:
            log.error("cannot watch task %s for OOM kills: %s", task.record.id, error)
        if task.oom_notifier is not None:
            self._loop.add_reader(task.oom_notifier, self._out_of_memory, task)

    def _out_of_memory(self, task: _Task) -> None:
        assert task.oom_notifier is not None
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(task.oom_notifier)
        log.warning("task %s hit its memory limit: killing it", task.record.id)
        task.out_of_memory = True  # our SIGKILL may beat the OOM killer (and its counter)
        self._kill(task, signal.SIGKILL)

    def _adopt(self, record: ProcessRecord) -> None:
        """Take over a record of an earlier supervisor: ended, still running, or vanished."""
        task = _Task(record)
        self._track(task)
        if record.exit is not None:
            return
        try:
            task.pidfd = os.pidfd_open(record.pid)
            if start_time(record.pid) != record.start_time:
                raise ProcessLookupError(record.pid)
        except ProcessLookupError:
            log.warning("task %s ended while no supervisor watched it", record.id)
            self._finish(task, None)
            return
        self._loop.add_reader(task.pidfd, self._finish, task, None)
        log.info("adopted running task %s (pid %d)", record.id, record.pid)

    def _reap(self) -> None:
        """Reap every exited child; a task's leftovers are killed while its pid is still held."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            task = self._by_pid.get(info.si_pid)
            if task is not None:
                self._kill_what_it_left(task)
            command = self._commands.reaping(info.si_pid)
            _, status = os.waitpid(info.si_pid, 0)
            if task is not None:
                self._finish(task, status)
            if command:
                self._commands.reaped(info.si_pid, status)
                self._clean_up(leftovers.kill_all(self._strays))

    def _kill_what_it_left(self, task: _Task) -> None:
        """Its process has exited, unreaped: its pid still names its process group. The
        rest of it is killed by :meth:`_report_exit`, which lists its cgroups and the
        supervisor's strays until they are empty (here only a ``cgroup.kill`` that gets a
        fork bomb in one write). Its process tree needs no walk: an exited process has no
        children (the kernel handed them to the supervisor), and :meth:`_finish` kills its
        commands."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(task.record.pid, signal.SIGKILL)
        cgroups.kill_at_once(task.record.cgroups)

    def _finish(self, task: _Task, status: int | None) -> None:
        """The task's process is gone: kill what it left, then tell its exit."""
        record = task.record
        task.ended = True
        self._by_pid.pop(record.pid, None)
        self._commands.kill_of_task(record.id)
        if task.escalation is not None:
            task.escalation.cancel()
        for fd in (task.pidfd, task.oom_notifier):
            if fd is not None:
                self._loop.remove_reader(fd)
                os.close(fd)
        if task.pidfd is not None:
            cgroups.kill_all(record.cgroups)
        self._clean_up(self._report_exit(task, status))

    async def _report_exit(self, task: _Task, status: int | None) -> None:
        record = task.record
        await leftovers.kill_all(lambda: cgroups.pids(record.cgroups) | self._strays())
        if task.output is not None:
            task.output.task_ended()  # its last output is in its files before its exit is told
        oom, peak = cgroups.memory_outcome(record.cgroups)
        record.exit = ExitInfo(status=status, oom=oom or task.out_of_memory, memory_peak=peak)
        self._unended.discard(record.id)
        self._remove_cgroups(record.cgroups, 0)  # empty now: gone before anyone hears
        self._broadcast({"event": "exit", "task": record.to_json()})  # the fsync can wait
        self._store.update(record, durable=True)
        if task.forget_on_exit:
            self._forget(record.id)
        self._arm_idle()

    def _clean_up(self, cleanup: Coroutine[None, None, None]) -> None:
        """Run ``cleanup`` in the background; the supervisor finishes it before it exits."""
        running = self._loop.create_task(cleanup)
        self._cleanups.add(running)
        running.add_done_callback(self._cleanups.discard)

    def _strays(self) -> set[int]:
        """Children of the supervisor left behind by a task or command that ended.

        A task without cgroups runs as a child subreaper, so whatever it starts stays below
        it however it forks or calls setsid, until it dies: then the kernel hands what is
        left to the next subreaper up, the supervisor. Its children are therefore the tasks,
        the commands, these leftovers, and orphans of tasks that cgroups track (spared
        here: their cgroups decide).
        """
        known = set(self._by_pid) | self._commands.pids()
        candidates = leftovers.live(leftovers.children(self._pid) - known)
        if not candidates:
            return candidates
        tracked = {d for t in self._tasks.values() if t.running for d in t.record.cgroups}
        return {pid for pid in candidates if not tracked & cgroups.of_process(pid)}

    def _remove_cgroups(self, directories: list[str], attempt: int) -> None:
        """Killed processes leave their cgroup a moment after SIGKILL: retry a few times."""
        if cgroups.remove(directories) or not directories:
            return
        if attempt == len(CGROUP_REMOVAL_DELAYS):
            log.error("could not remove cgroups %s: processes remain", directories)
            return
        cgroups.kill_all(directories)
        delay = CGROUP_REMOVAL_DELAYS[attempt]
        self._loop.call_later(delay, self._remove_cgroups, directories, attempt + 1)

    def _signal(self, task_id: str, number: int, escalate_after: float | None) -> bool:
        """Signal a task's process group; with ``escalate_after`` (a kill), signal all of
        the task, and SIGKILL all of it after that."""
        task = self._tasks.get(task_id)
        if task is None or not task.running:
            return False
        if escalate_after is not None:
            if not task.record.killed:
                task.record.killed = True
                self._store.update(task.record, durable=False)
            deadline = self._loop.time() + escalate_after
            if task.escalation is None or deadline < task.escalation_deadline:
                if task.escalation is not None:
                    task.escalation.cancel()
                task.escalation_deadline = deadline
                task.escalation = self._loop.call_at(deadline, self._kill, task, signal.SIGKILL)
        self._kill(task, number, whole=escalate_after is not None)
        return True

    def _kill(self, task: _Task, number: int, *, whole: bool = True) -> None:
        """Signal the task's process group and, if ``whole``, every process of the task:
        its process tree (where a subreaper keeps everything) and its cgroups."""
        if task.ended:  # its pid may be another's by now; its leftovers are being killed
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if task.pidfd is not None:
                signal.pidfd_send_signal(task.pidfd, number)
            os.killpg(task.record.pid, number)
        if not whole:
            return
        record = task.record
        groups = {record.pid, *self._commands.signal_of_task(record.id, number)}

        def outside_the_groups() -> set[int]:  # those that called setsid or setpgid
            found = leftovers.descendants(record.pid) | cgroups.pids(record.cgroups)
            return leftovers.outside_groups(found, groups)

        if number == signal.SIGKILL:
            cgroups.kill_all(record.cgroups)
        leftovers.close(leftovers.signal_all(outside_the_groups, number))

    def _forget(self, task_id: str) -> bool:
        """Drop a task's record; a running one is killed first and forgotten when it ends."""
        task = self._tasks.get(task_id)
        if task is None:
            return False
        if task.record.exit is None:
            task.forget_on_exit = True
            self._kill(task, signal.SIGKILL)
            return True
        del self._tasks[task_id]
        if task.output is not None:
            task.output.close()
        self._store.forget(task_id)
        return True

    def _running(self) -> int:
        return len(self._unended)

    def _exec(
        self, spec: SpawnSpec, time_limit: float, client: asyncio.StreamWriter, reply: Message
    ) -> bool:
        """Run a command in a running task, in the task's cgroups; False if none such runs.

        ``reply`` is completed with the command's wait status and sent once it is reaped.
        """
        task = self._tasks.get(spec.id)
        if task is None or not task.running:
            return False

        def send(status: int) -> None:
            if not client.is_closing():
                client.write(encode({**reply, "exit": status}))

        spec = replace(spec, cgroups=task.record.cgroups)
        output = task.output or TaskOutput.appending(spec)
        with output.for_command() as (out, err):
            self._commands.start(spec, out, err, time_limit, client, reply["req"], send)
        return True

    def _detach(self, client: asyncio.StreamWriter) -> bool:
        """A client is leaving; if it is the last and only tasks being forgotten run, exit
        once it is gone and they have been reaped."""
        lasting = any(
            task.record.exit is None and not task.forget_on_exit for task in self._tasks.values()
        )
        if lasting or self._clients - {client}:
            return False
        self._leaving = client
        if self._server is not None:
            self._server.close()  # a newcomer starts the next supervisor (it waits for our lock)
        return True

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._running():
            return
        if self._leaving is not None and self._leaving not in self._clients:
            self._stopped.set()
        elif not self._clients:
            self._idle = self._loop.call_later(IDLE_EXIT_SECONDS, self._stopped.set)

    # -- clients ----------------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if _peer_uid(writer) != os.geteuid():  # it spawns as any user: only our own may ask
            log.warning("refusing a client of another user")
            writer.close()
            return
        self._clients.add(writer)
        self._arm_idle()
        try:
            while line := await reader.readline():
                reply = self._handle(line, writer)
                if reply is not None:
                    writer.write(encode(reply))
        except (ConnectionError, ValueError) as error:
            log.warning("dropping client: %s", error)
        finally:
            self._clients.discard(writer)
            self._commands.kill_of_client(writer)
            writer.close()
            self._arm_idle()

    def _handle(self, line: bytes, client: asyncio.StreamWriter) -> Message | None:
        """The reply to one request; None when it comes later (a command still running)."""
        reply: Message = {}
        try:
            request = decode(line)
            reply["req"] = request.get("req")
            operation = request.get("op")
            if operation == "spawn":
                reply["task"] = self._spawn(SpawnSpec.from_json(request["spec"])).to_json()
            elif operation == "exec":
                spec = SpawnSpec.from_json(request["spec"])
                if self._exec(spec, float(request["time_limit"]), client, reply):
                    return None
                reply["exit"] = None
            elif operation == "cancel":
                reply["ok"] = self._commands.cancel(client, request["target"])
            elif operation == "detach":
                reply["pid"] = os.getpid()
                reply["exiting"] = self._detach(client)
            elif operation == "signal":
                reply["ok"] = self._signal(
                    request["id"], request["signal"], request.get("escalate_after")
                )
            elif operation == "list":
                reply["tasks"] = [task.record.to_json() for task in self._tasks.values()]
            elif operation == "forget":
                reply["ok"] = self._forget(request["id"])
            else:
                raise ValueError(f"unknown operation {operation!r}")
        except (SpawnError, ValueError, KeyError, TypeError, OSError) as error:
            reply["error"] = str(error)
        return reply

    def _broadcast(self, message: Message) -> None:
        line = encode(message)
        for writer in self._clients:
            if not writer.is_closing():
                writer.write(line)


def _peer_uid(writer: asyncio.StreamWriter) -> int:
    connection: socket.socket = writer.get_extra_info("socket")
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEER_CREDENTIALS)
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def _lock(path: Path) -> int | None:
    """Hold the state dir's lock for life: one supervisor per agent work dir.

    The holder may be a supervisor still exiting (wait for it), or one that serves, started
    at the same moment by another client: then None, and this one leaves at once, its
    starter connecting to that one instead of failing after the timeout.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if _serving():
                os.close(fd)
                return None
            if time.monotonic() > deadline:
                raise SystemExit(f"another supervisor holds {path}") from None
            time.sleep(0.02)


def _serving() -> bool:
    """Whether a supervisor answers on the socket in the working directory (the state dir)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(SOCKET_NAME)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dockyard.supervision.server",
        description="Supervise the tasks of one dockyard agent (started by the mesos plugin).",
    )
    parser.add_argument("--state-dir", type=Path, required=True)
    state_dir: Path = parser.parse_args(argv).state_dir
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(state_dir)  # a relative socket name dodges the 108-byte limit on socket paths
    if _lock(state_dir / LOCK_NAME) is None:
        log.info("another supervisor serves %s; leaving it to its clients", state_dir)
        return 0
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET_NAME)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(SOCKET_NAME)
    listener.listen(128)
    if os.fork() != 0:
        os._exit(0)  # the starter sees this exit: the socket is ready
    try:
        become_child_subreaper()
    except OSError as error:  # orphans of tasks without cgroups would then escape to init
        log.error("cannot become a child subreaper: %s", error.strerror)
    raise_file_limit()
    Path(PID_NAME).write_text(f"{os.getpid()}\n")
    log.info("supervisor %d serving %s", os.getpid(), state_dir)
    try:
        asyncio.run(_serve(state_dir, listener))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET_NAME)
        Path(PID_NAME).unlink(missing_ok=True)
    return 0


async def _serve(state_dir: Path, listener: socket.socket) -> None:
    await Supervisor(RecordLog(state_dir), listener).serve()


if __name__ == "__main__":
    sys.exit(main())
