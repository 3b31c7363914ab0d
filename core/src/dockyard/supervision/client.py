"""The plugin's side of the supervisor socket: requests, replies and pushed exit events.

:meth:`SupervisorClient.connect` starts the supervisor when none answers. If the connection
drops (the supervisor exited or died), the client starts or reconnects to a supervisor
again and replays the exits it may have missed, so waiters never hang on a lost event.
:meth:`SupervisorClient.close` detaches: a supervisor left with no task to watch exits,
and ``close`` returns only once it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from dockyard.supervision.protocol import (
    LINE_LIMIT,
    LOG_NAME,
    SOCKET_NAME,
    Message,
    ProcessRecord,
    SpawnSpec,
    decode,
    encode,
)

CONNECT_ATTEMPTS = 5
RECONNECT_DELAY_SECONDS = 1.0
EXIT_WAIT_SECONDS = 10.0
"""How long ``close`` waits for a supervisor that said it would exit (it takes milliseconds)."""

log = logging.getLogger(__name__)

ExitCallback = Callable[[ProcessRecord], None]


class SupervisorError(Exception):
    """The supervisor could not be reached or refused a request."""


class SupervisorClient:
    def __init__(self, state_dir: Path, on_exit: ExitCallback) -> None:
        self._state_dir = state_dir
        self._on_exit = on_exit
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._outgoing: list[bytes] = []
        """Messages posted in this event-loop turn, sent together at its end."""
        self._last_request = 0
        self._listener: asyncio.Task[None] | None = None
        self._catch_up: asyncio.Task[None] | None = None
        self._closing = False

    async def connect(self) -> None:
        """Connect to the work dir's supervisor, starting one if none is running."""
        await self._open()
        self._listener = asyncio.create_task(self._listen(), name="mesos-supervisor-listener")

    async def close(self) -> None:
        """Disconnect; running tasks keep running, and so does their supervisor.

        A supervisor with no running task and no other client exits: ``close`` waits
        until it has, so that nothing is left behind once it returns.
        """
        self._closing = True
        supervisor = await self._detach()
        for task in (self._listener, self._catch_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, SupervisorError):
                    await task
        self._disconnect()
        if supervisor is not None:
            try:
                await _exited(supervisor)
            finally:
                os.close(supervisor)

    async def _detach(self) -> int | None:
        """Tell the supervisor we leave; a pidfd of it if it is going to exit."""
        try:
            reply = await self._request({"op": "detach"})
            if not reply["exiting"]:
                return None
            return os.pidfd_open(reply["pid"])
        except (SupervisorError, ProcessLookupError) as error:  # gone already
            log.debug("detaching from the supervisor: %s", error)
            return None

    def _disconnect(self) -> None:
        self._outgoing.clear()  # their requests fail with the connection, never resent
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def spawn(self, spec: SpawnSpec) -> ProcessRecord:
        reply = await self._request({"op": "spawn", "spec": spec.to_json()})
        return ProcessRecord.from_json(reply["task"])

    async def exec(self, spec: SpawnSpec, time_limit: float) -> int | None:
        """Run a command in the running task ``spec.id``; its wait status, None if no such task.

        The supervisor SIGKILLs it after ``time_limit`` seconds, or at once if the caller is
        cancelled.
        """
        request, reply = self._send(
            {"op": "exec", "spec": spec.to_json(), "time_limit": time_limit}
        )
        try:
            answer = await _checked(reply)
        except asyncio.CancelledError:
            with contextlib.suppress(SupervisorError):  # disconnected: it is killed anyway
                self._post({"op": "cancel", "target": request})
            raise
        status: int | None = answer["exit"]
        return status

    async def signal(
        self, task_id: str, number: signal.Signals | int, escalate_after: float | None = None
    ) -> bool:
        """Signal a task's process group; ``escalate_after`` seconds later SIGKILL all of it."""
        message = {"op": "signal", "id": task_id, "signal": int(number)}
        reply = await self._request({**message, "escalate_after": escalate_after})
        return bool(reply["ok"])

    async def list(self) -> list[ProcessRecord]:
        reply = await self._request({"op": "list"})
        return [ProcessRecord.from_json(task) for task in reply["tasks"]]

    async def forget(self, task_id: str) -> bool:
        """Drop a task's record; a running one is killed first."""
        return bool((await self._request({"op": "forget", "id": task_id}))["ok"])

    async def _request(self, message: Message) -> Message:
        _, reply = self._send(message)
        return await _checked(reply)

    def _send(self, message: Message) -> tuple[int, asyncio.Future[Message]]:
        """Send a request; its number, and the future its reply resolves."""
        self._last_request += 1
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._post({**message, "req": self._last_request})
        self._pending[self._last_request] = future
        return self._last_request, future

    def _post(self, message: Message) -> None:
        """Send a message; without a ``req`` number, its reply is dropped."""
        if self._writer is None:
            raise SupervisorError("not connected to the supervisor")
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._send_outgoing)
        self._outgoing.append(encode(message))

    def _send_outgoing(self) -> None:
        """One write for the turn's messages: a burst's spawns and forgets would each
        cost a send, and a wake-up of the supervisor."""
        outgoing, self._outgoing = self._outgoing, []
        if outgoing and self._writer is not None:
            self._writer.write(b"".join(outgoing))

    async def _listen(self) -> None:
        """Dispatch replies and exit events; on a lost connection, reconnect and catch up."""
        while True:
            assert self._reader is not None
            try:
                while line := await self._reader.readline():
                    self._dispatch(decode(line))
            except (ConnectionError, ValueError) as error:
                log.warning("supervisor connection broke: %s", error)
            lost = SupervisorError("lost the connection to the supervisor")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(lost)
            self._pending.clear()
            self._disconnect()
            if self._closing:
                return
            await self._reconnect()

    async def _reconnect(self) -> None:
        while True:
            try:
                await self._open()
                break
            except (OSError, SupervisorError) as error:
                log.error("cannot reach the supervisor in %s: %s", self._state_dir, error)
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)
        self._catch_up = asyncio.create_task(self._replay_exits())

    async def _replay_exits(self) -> None:
        """Report exits that happened while disconnected (the callback ignores known ones)."""
        try:
            records = await self.list()
        except SupervisorError as error:  # disconnected again: the next reconnect replays
            log.warning("could not replay exits: %s", error)
            return
        for record in records:
            if record.exit is not None:
                self._on_exit(record)

    def _dispatch(self, message: Message) -> None:
        if message.get("event") == "exit":
            self._on_exit(ProcessRecord.from_json(message["task"]))
            return
        future = self._pending.pop(message.get("req", -1), None)
        if future is not None and not future.done():
            future.set_result(message)

    async def _open(self) -> None:
        for _ in range(CONNECT_ATTEMPTS):
            try:
                self._reader, self._writer = await _open_connection(self._state_dir)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                await _start_supervisor(self._state_dir)
        raise SupervisorError(f"no supervisor answers on {self._state_dir / SOCKET_NAME}")


async def _checked(reply: asyncio.Future[Message]) -> Message:
    message = await reply
    if "error" in message:
        raise SupervisorError(message["error"])
    return message


async def _exited(pidfd: int) -> None:
    """Until the process behind ``pidfd`` has exited (a pidfd is readable from then on)."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await asyncio.wait_for(exited, EXIT_WAIT_SECONDS)
    except TimeoutError:
        log.warning("the supervisor said it would exit but is still running")
    finally:
        loop.remove_reader(pidfd)


async def _open_connection(state_dir: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect through ``/proc/self/fd`` so a deep work dir cannot exceed 108-byte socket paths."""
    directory = os.open(state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return await asyncio.open_unix_connection(
            f"/proc/self/fd/{directory}/{SOCKET_NAME}", limit=LINE_LIMIT
        )
    finally:
        os.close(directory)


async def _start_supervisor(state_dir: Path) -> None:
    """Run the supervisor detached; its first process exits once the socket listens."""
    log_file = os.open(state_dir / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dockyard.supervision.server",
            "--state-dir",
            str(state_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    finally:
        os.close(log_file)
    if await process.wait() != 0:
        raise SupervisorError(f"the supervisor failed to start; see {state_dir / LOG_NAME}")
