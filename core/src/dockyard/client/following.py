"""Following a task on a running agent: its status updates (SUBSCRIBE) and its output (/files).

Status updates are pushed by the agent, so waiting costs nothing. Output files are read
through ``/files/read``: when nothing new appeared the next read backs off to
:data:`MAX_POLL_INTERVAL`, and a last read after the task ended catches its final lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from dockyard.client.http import MAX_READ_LENGTH, AgentClient, AgentRefused, ClientError
from dockyard.messages import Event, EventType, Task, TaskStatus

REPLACEMENT = "\ufffd"
"""What the agent sends for bytes that are not (or not yet whole) UTF-8."""
MAX_CUT = 3
"""A UTF-8 character has at most 4 bytes, so a cut one leaves at most 3 behind."""
MIN_POLL_INTERVAL = 0.1
MAX_POLL_INTERVAL = 1.0

StatusCallback = Callable[[TaskStatus], None]


async def snapshot(events: AsyncIterator[Event]) -> list[Task]:
    """The tasks of the SUBSCRIBED event that opens every stream."""
    first = await anext(events, None)
    if first is None or first.subscribed is None:
        raise ClientError("the agent's event stream did not start with SUBSCRIBED")
    state = first.subscribed.get_state
    tasks = state.get_tasks if state is not None else None
    return [] if tasks is None else [*tasks.launched_tasks, *tasks.completed_tasks]


async def until_terminal(
    events: AsyncIterator[Event], task_id: str, on_status: StatusCallback
) -> TaskStatus:
    """Hand every update of ``task_id`` to ``on_status``; return the terminal one."""
    async for event in events:
        updated = event.task_updated
        if event.type is not EventType.TASK_UPDATED or updated is None:
            continue
        if updated.status.task_id.value != task_id:
            continue
        on_status(updated.status)
        if updated.status.state.is_terminal:
            return updated.status
    raise ClientError("the agent's event stream ended")  # read_events raises first


async def copy_output(
    agent: AgentClient, path: str, offset: int, out: TextIO, *, complete: bool = True
) -> int:
    """Write the file from ``offset`` up to its current size; return the new offset.

    The size is asked first and then exactly that many bytes are read, so the offset
    stays exact whatever the bytes are. Unless ``complete``, a character cut at the end
    of the file (still being written) is left for the next call.
    """
    try:
        size = await agent.size(path)
    except AgentRefused as error:
        if error.status == 404:
            return offset  # the sandbox or the file does not exist yet
        raise
    if size < offset:  # truncated (e.g. rotated): start again from its beginning
        offset = 0
    while offset < size:
        length = min(size - offset, MAX_READ_LENGTH)
        text, whole = await read_whole_characters(agent, path, offset, length)
        out.write(text)
        out.flush()
        offset += whole
        if offset + (length - whole) == size and whole < length and not complete:
            break  # the end of a character that is still being written
    return offset


async def read_whole_characters(
    agent: AgentClient, path: str, offset: int, length: int
) -> tuple[str, int]:
    """Read ``length`` bytes, or up to 3 fewer when the read would end inside a UTF-8
    character: the agent sends text, so a cut character would come out as U+FFFD.

    Returns the text and how many bytes it holds; bytes that are not UTF-8 at all stay
    U+FFFD, as the agent sends them.
    """
    text = await agent.read(path, offset, length)
    shorter = length
    while text.endswith(REPLACEMENT) and shorter > 1 and length - shorter < MAX_CUT:
        shorter -= 1
        candidate = await agent.read(path, offset, shorter)
        if not candidate.endswith(REPLACEMENT):
            return candidate, shorter
    return text, length


async def follow_output(agent: AgentClient, task_id: str, path: str, out: TextIO) -> None:
    """Copy the file to ``out`` as it grows, until the task has ended and all is copied."""
    async with agent.events() as events:
        known = [task for task in await snapshot(events) if task.task_id.value == task_id]
        ended: asyncio.Future[object]
        if any(not task.state.is_terminal for task in known):
            ended = asyncio.ensure_future(until_terminal(events, task_id, lambda status: None))
        else:
            ended = asyncio.get_running_loop().create_future()
            ended.set_result(None)
        offset, interval = 0, MIN_POLL_INTERVAL
        try:
            while True:
                finished = ended.done()
                if finished:
                    ended.result()  # raises the stream's error, if it failed
                grown = await copy_output(agent, path, offset, out, complete=finished)
                if finished:
                    return
                quiet = grown == offset
                interval = min(interval * 2, MAX_POLL_INTERVAL) if quiet else MIN_POLL_INTERVAL
                offset = grown
                await asyncio.wait({ended}, timeout=interval)
        finally:
            ended.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientError):
                await ended
