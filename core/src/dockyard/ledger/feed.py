"""The stream of published updates that SUBSCRIBE readers follow at their own pace.

Recent events stay in memory (a ring bounded in bytes); a reader that falls
behind the ring reads older events back from the ledger's log instead of being
dropped. Only a reader more than ``MAX_LAG_BYTES`` behind is cut off, with a
final event that says why: that bound is what one slow client may cost the disk
reads of the agent, never its memory.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

RING_BYTES = 1 << 20
"""Memory for recent events, kept for readers that keep up (about 2,000 events).

A reader that keeps up trails the head by one ledger batch at most (under 50 KiB
for a 3,000-task burst, measured); the ring only spares readers a little behind
the log's reads, and it is full after a few hundred tasks, not thousands."""

EVENT_OVERHEAD = sys.getsizeof(b"") + sys.getsizeof((0, b"")) + sys.getsizeof(1 << 40) + 8
"""Memory one ring entry takes beyond its event's bytes: the bytes and tuple objects, the
position and a deque slot. Counted, so that the bound is on memory, not on payload."""

MAX_LAG_BYTES = 256 << 20
"""How far (in bytes of events) a reader may fall behind before it is cut off."""

LOG_PAGE = 512
"""Events read back from the log per query."""

LogReader = Callable[[int, int], Awaitable[list[tuple[int, int, str, str]]]]


def task_updated_event(framework_id: str, status_text: str, state: str) -> bytes:
    """One RecordIO ``TASK_UPDATED`` record, built from the status's stored JSON."""
    body = (
        '{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":'
        f'{json.dumps(framework_id)}}},"status":{status_text},"state":"{state}"}}}}'
    ).encode()
    return f"{len(body)}\n".encode() + body


def error_event(message: str) -> bytes:
    body = json.dumps({"type": "ERROR", "error": {"message": message}}).encode()
    return f"{len(body)}\n".encode() + body


class Feed:
    def __init__(self, read_log: LogReader) -> None:
        self._read_log = read_log
        self._events: deque[tuple[int, bytes]] = deque()
        """``(pos, event)`` of the newest events; their seqs end at ``head_seq``."""
        self._ring_bytes = 0
        self.head_seq = 0
        self.head_pos = 0
        self._published = asyncio.Event()
        self._closed = False

    def start_at(self, seq: int, pos: int) -> None:
        self.head_seq, self.head_pos = seq, pos

    def push(self, seq: int, pos: int, event: bytes) -> None:
        """Publish event ``seq`` (sequence numbers are contiguous), ending at byte ``pos``."""
        assert seq == self.head_seq + 1, "events are published in order"
        self.head_seq, self.head_pos = seq, pos
        self._events.append((pos, event))
        self._ring_bytes += len(event) + EVENT_OVERHEAD
        while self._ring_bytes > RING_BYTES and len(self._events) > 1:
            self._ring_bytes -= len(self._events.popleft()[1]) + EVENT_OVERHEAD
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        self._published.set()
        self._published = asyncio.Event()

    async def follow(
        self, seq: int, pos: int, idle: float, batch_bytes: int = 0
    ) -> AsyncIterator[bytes | None]:
        """Every event after ``seq`` (which ended at byte ``pos``), as they come.

        Events already published are joined into one yield of up to about
        ``batch_bytes`` (at least one event each): RecordIO records delimit
        themselves, and a burst then costs a reader one write, not one per event.
        Yields None after ``idle`` seconds without an event (time for a heartbeat).
        Ends when the feed closes, or after an error event when the reader lags
        past ``MAX_LAG_BYTES``.
        """
        while not self._closed:
            if self.head_pos - pos > MAX_LAG_BYTES:
                yield error_event(
                    f"Disconnected: this subscriber fell more than {MAX_LAG_BYTES >> 20} MiB "
                    "of events behind; subscribe again for the current state"
                )
                return
            if seq >= self.head_seq:
                published = self._published
                try:  # not asyncio.wait_for, which can swallow a cancellation on 3.11
                    async with asyncio.timeout(idle):
                        await published.wait()
                except TimeoutError:
                    yield None
                continue
            first = self.head_seq - len(self._events) + 1
            if seq + 1 >= first:
                batch, size = [], 0
                for index in range(seq + 1 - first, len(self._events)):  # near the newest end
                    pos, event = self._events[index]
                    batch.append(event)
                    size += len(event)
                    if size >= batch_bytes:
                        break
                seq += len(batch)
                yield b"".join(batch)
                continue
            rows = await self._read_log(seq, LOG_PAGE)
            if not rows:  # forgotten by garbage collection: skip to what is left
                seq, pos = first - 1, self._events[0][0] - len(self._events[0][1])
                continue
            for row_seq, row_pos, framework_id, status_text in rows:
                seq, pos = row_seq, row_pos
                yield task_updated_event(framework_id, status_text, state_of(status_text))


def state_of(status_text: str) -> str:
    state: str = json.loads(status_text)["state"]
    return state
