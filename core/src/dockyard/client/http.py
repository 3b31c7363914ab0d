"""An HTTP client of a running agent: ``POST /api/v1``, the ``SUBSCRIBE`` stream, ``/files``.

Answers are read into the same message classes the agent writes them from, so a shape the
client does not understand is reported, never half-used. Every failure becomes a
:class:`ClientError` whose text is the one line the user sees.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from dockyard.messages import (
    DurationInfo,
    Event,
    EventType,
    KillPolicy,
    MessageError,
    Response,
    Task,
    TaskID,
    WaitContainerResponse,
    dump,
    load,
)

M = TypeVar("M")

REQUEST_TIMEOUT = 60.0
"""Seconds an ordinary call may take; streams have no total time, only heartbeats."""
CONNECT_TIMEOUT = 10.0
DEFAULT_HEARTBEAT = 15.0
MISSED_HEARTBEATS = 3
"""A stream silent for this many heartbeat intervals is taken for a lost agent."""
MAX_READ_LENGTH = 1 << 20
MAX_RECORD = 256 << 20
"""The largest event accepted (a SUBSCRIBED snapshot of a busy agent is the largest)."""


class ClientError(Exception):
    """A request that did not get its answer; ``str()`` is the whole message."""

    exit_code = 1


class AgentUnreachable(ClientError):
    """No agent answered at the URL, or it went away mid-answer."""

    exit_code = 3


class AgentRefused(ClientError):
    """The agent answered with an error status (its own message is kept)."""

    exit_code = 4

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AgentClient:
    """One agent's API; use as ``async with AgentClient(url) as agent``."""

    def __init__(self, url: URL, auth: aiohttp.BasicAuth | None = None) -> None:
        self.url = url
        self.auth = auth
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AgentClient:
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT)
        self._session = aiohttp.ClientSession(auth=self.auth, timeout=timeout)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use AgentClient in an async with block"
        return self._session

    # -- the operator API --------------------------------------------------------

    async def call(self, body: dict[str, Any]) -> tuple[int, Any]:
        """POST one call; the status and the JSON answer (None when the body is empty)."""
        async with self._request("POST", "/api/v1", json=body) as response:
            text = await response.text()
        return response.status, parse_json(text, body["type"]) if text else None

    async def response(self, call_type: str) -> Response:
        """A read call with no arguments (``GET_TASKS``...) as a typed Response."""
        _, answer = await self.call({"type": call_type})
        return read_message(Response, answer, call_type)

    async def health(self) -> bool:
        answer = await self.response("GET_HEALTH")
        return answer.get_health is not None and answer.get_health.healthy

    async def version(self) -> str:
        answer = await self.response("GET_VERSION")
        return answer.get_version.version_info.version if answer.get_version else "unknown"

    async def tasks(self) -> list[Task]:
        """Every task the agent knows: the live ones first, then the completed ones."""
        answer = await self.response("GET_TASKS")
        tasks = answer.get_tasks
        return [] if tasks is None else [*tasks.launched_tasks, *tasks.completed_tasks]

    async def task(self, task_id: str) -> Task:
        """The task with this id (its live run when the id was reused)."""
        return find_task(await self.tasks(), task_id, self.url)

    async def launch(self, task: dict[str, Any]) -> list[str]:
        """Launch the task; the agent's warnings about it (e.g. unknown fields)."""
        _, answer = await self.call({"type": "LAUNCH_TASK", "launch_task": {"task": task}})
        return warnings_in(answer)

    async def kill(self, task_id: str, grace_period: timedelta | None) -> bool:
        """Start killing the task; False when it had already ended."""
        kill: dict[str, Any] = {"task_id": dump(TaskID(value=task_id))}
        if grace_period is not None:
            nanoseconds = math.ceil(grace_period.total_seconds() * 1e9)
            policy = KillPolicy(grace_period=DurationInfo(nanoseconds=nanoseconds))
            kill["kill_policy"] = dump(policy)
        status, _ = await self.call({"type": "KILL_TASK", "kill_task": kill})
        return status == 202

    async def wait_container(self, container_id: dict[str, Any]) -> WaitContainerResponse:
        body = {"type": "WAIT_CONTAINER", "wait_container": {"container_id": container_id}}
        _, answer = await self.call(body)
        response = read_message(Response, answer, "WAIT_CONTAINER")
        if response.wait_container is None:
            raise ClientError(f"the agent at {self.url} sent no wait_container in its answer")
        return response.wait_container

    @asynccontextmanager
    async def events(self) -> AsyncIterator[AsyncIterator[Event]]:
        """The SUBSCRIBE stream: SUBSCRIBED (the state), then every event as it happens."""
        body = {"type": "SUBSCRIBE"}
        async with self._request("POST", "/api/v1", json=body, stream=True) as response:
            yield read_events(response, self.url)

    # -- sandbox files -----------------------------------------------------------

    async def browse(self, path: str) -> list[dict[str, Any]]:
        async with self._request("GET", "/files/browse", params={"path": path}) as response:
            entries = parse_json(await response.text(), "/files/browse")
        if not isinstance(entries, list):
            raise ClientError(f"the agent at {self.url} sent no list of files")
        return entries

    async def size(self, path: str) -> int:
        """The file's current size in bytes."""
        answer = await self._read(path, offset=-1, length=0)
        return int(answer["offset"])

    async def read(self, path: str, offset: int, length: int) -> str:
        """``length`` bytes from ``offset`` (fewer at the end of the file), as text."""
        answer = await self._read(path, offset, min(length, MAX_READ_LENGTH))
        return str(answer["data"])

    async def _read(self, path: str, offset: int, length: int) -> dict[str, Any]:
        params = {"path": path, "offset": str(offset), "length": str(length)}
        async with self._request("GET", "/files/read", params=params) as response:
            answer = parse_json(await response.text(), "/files/read")
        if not isinstance(answer, dict) or "offset" not in answer:
            raise ClientError(f"the agent at {self.url} sent no file data")
        return answer

    # -- plumbing ----------------------------------------------------------------

    @asynccontextmanager
    async def _request(
        self, method: str, path: str, *, stream: bool = False, **options: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A request whose errors are ClientErrors; the response is a success.

        A ``stream`` has no time limit as a whole (its reader watches the heartbeats).
        """
        timeout = aiohttp.ClientTimeout(
            total=None if stream else REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT
        )
        try:
            async with self.session.request(
                method, self.url / path.lstrip("/"), timeout=timeout, **options
            ) as response:
                if response.status >= 400:
                    raise refusal(response, await response.text(), self)
                yield response
        except aiohttp.ClientConnectorError as error:
            cause = error.os_error
            reason = os.strerror(cause.errno) if cause.errno else str(cause)
            raise AgentUnreachable(
                f"cannot reach the agent at {self.url}: {reason} (is `dockyard agent` "
                "running there? --agent or DOCKYARD_AGENT says where it is)"
            ) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise AgentUnreachable(
                f"lost the agent at {self.url}: {describe_error(error)}"
            ) from error


def describe_error(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return str(error) or type(error).__name__


def refusal(response: aiohttp.ClientResponse, text: str, client: AgentClient) -> AgentRefused:
    """The error for an answer of 400 or more, with the agent's own message."""
    status = f"{response.status} {response.reason or ''}".strip()
    message = " ".join(text.split()) or "(no message)"
    if response.status == 401:
        hint = (
            f"the credentials of principal '{client.auth.login}' were refused"
            if client.auth is not None
            else "it needs credentials: --principal and --secret "
            "(or DOCKYARD_PRINCIPAL and DOCKYARD_SECRET)"
        )
        return AgentRefused(f"the agent at {client.url} answered {status}: {hint}", 401)
    return AgentRefused(f"the agent at {client.url} answered {status}: {message}", response.status)


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ClientError(f"the agent's answer to {what} is not JSON: {text[:200]!r}") from None


def warnings_in(answer: Any) -> list[str]:
    """The ``warnings`` the agent added to an answer (``docs/agent-api.md``), if any."""
    found = answer.get("warnings") if isinstance(answer, dict) else None
    return [str(line) for line in found] if isinstance(found, list) else []


def read_message(cls: type[M], data: Any, what: str) -> M:
    try:
        return load(cls, data, path="response")
    except MessageError as error:
        raise ClientError(f"the agent's answer to {what} is not understood: {error}") from None


def find_task(tasks: list[Task], task_id: str, url: URL) -> Task:
    """The task with ``task_id``: its live run if any, else its latest one."""
    matches = [task for task in tasks if task.task_id.value == task_id]
    if not matches:
        raise AgentRefused(f"the agent at {url} has no task '{task_id}'", 404)
    live = [task for task in matches if not task.state.is_terminal]
    return (live or matches)[-1]


def record_length(header: bytes) -> int:
    length = int(header)
    if not 0 <= length <= MAX_RECORD:
        raise ValueError(f"record length {length} is out of bounds")
    return length


async def read_events(response: aiohttp.ClientResponse, url: URL) -> AsyncIterator[Event]:
    """RecordIO records (``<length>\\n<json>``) as Events, until the stream ends.

    Heartbeats are read, not yielded; a stream silent for several heartbeat intervals
    means the agent is gone.
    """
    silence = DEFAULT_HEARTBEAT * MISSED_HEARTBEATS
    while True:
        try:
            async with asyncio.timeout(silence):
                header = await response.content.readline()
                if not header:
                    raise AgentUnreachable(f"the agent at {url} ended its event stream")
                record = await response.content.readexactly(record_length(header))
        except TimeoutError:
            raise AgentUnreachable(
                f"the agent at {url} sent nothing for {silence:g} seconds"
            ) from None
        except (ValueError, asyncio.IncompleteReadError, aiohttp.ClientError) as error:
            raise AgentUnreachable(
                f"lost the agent's event stream at {url}: {describe_error(error)}"
            ) from error
        event: Event = read_message(Event, parse_json(record.decode(), "SUBSCRIBE"), "SUBSCRIBE")
        if event.type is EventType.HEARTBEAT:
            continue
        if event.subscribed is not None and event.subscribed.heartbeat_interval_seconds:
            silence = event.subscribed.heartbeat_interval_seconds * MISSED_HEARTBEATS
        yield event
