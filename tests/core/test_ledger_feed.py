"""SUBSCRIBE readers follow the ledger's feed at their own pace: one behind the
in-memory ring reads the log, and only one past the byte-bounded lag is cut off."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockyard.launch_slots import MAX_LAUNCHING
from dockyard.ledger import Ledger, TaskRecord
from dockyard.ledger import feed as feed_module
from dockyard.ledger.feed import Feed, task_updated_event
from dockyard.ledger.store import LedgerStore
from dockyard.lifecycle import default_framework
from dockyard.messages import CommandInfo, ContainerID, TaskID, TaskInfo, TaskState
from dockyard.statuses import agent_status


class Log:
    """The ledger's log, as the feed reads it back: ``(seq, pos, framework, status)``."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, str, str]] = []

    async def read(self, after_seq: int, limit: int) -> list[tuple[int, int, str, str]]:
        return [row for row in self.rows if row[0] > after_seq][:limit]


def publish(feed: Feed, log: Log, count: int) -> list[bytes]:
    """Write ``count`` updates to the log, then publish them, as the ledger does."""
    events = []
    for _ in range(count):
        seq = feed.head_seq + 1
        status = json.dumps({"task_id": {"value": f"t{seq}"}, "state": "TASK_RUNNING"})
        event = task_updated_event("fw", status, "TASK_RUNNING")
        log.rows.append((seq, feed.head_pos + len(event), "fw", status))
        feed.push(seq, feed.head_pos + len(event), event)
        events.append(event)
    return events


async def test_a_reader_behind_the_ring_reads_the_log_and_misses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed_module, "RING_BYTES", 2000)  # about 15 events
    monkeypatch.setattr(feed_module, "LOG_PAGE", 7)
    log = Log()
    feed = Feed(log.read)
    reader = feed.follow(0, 0, idle=60)
    published = publish(feed, log, 100)
    assert [await anext(reader) for _ in published] == published
    more = publish(feed, log, 3)  # caught up: from the ring again
    assert [await anext(reader) for _ in more] == more


async def test_a_reader_too_far_behind_gets_a_final_error_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed_module, "MAX_LAG_BYTES", 5000)
    log = Log()
    feed = Feed(log.read)
    reader = feed.follow(0, 0, idle=60)
    publish(feed, log, 100)
    events = [event async for event in reader]
    assert len(events) == 1, "cut off at once, and the stream ends"
    assert events[0] is not None
    header, body = events[0].split(b"\n", 1)
    assert int(header) == len(body)
    error = json.loads(body)
    assert error["type"] == "ERROR"
    assert "fell more than" in error["error"]["message"]


async def test_a_batching_reader_gets_every_event_once_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Joined events make the same byte stream, also across the ring's edge."""
    monkeypatch.setattr(feed_module, "RING_BYTES", 2000)
    monkeypatch.setattr(feed_module, "LOG_PAGE", 7)
    log = Log()
    feed = Feed(log.read)
    reader = feed.follow(0, 0, idle=60, batch_bytes=500)
    published = publish(feed, log, 100)
    received = b""
    while len(received) < len(b"".join(published)):
        chunk = await anext(reader)
        assert chunk is not None
        received += chunk
    assert received == b"".join(published)
    more = publish(feed, log, 5)  # caught up: joined from the ring, a few per write
    chunk = await anext(reader)
    assert chunk is not None
    assert chunk.count(b"TASK_UPDATED") > 1
    received = chunk
    while len(received) < len(b"".join(more)):
        chunk = await anext(reader)
        assert chunk is not None
        received += chunk
    assert received == b"".join(more)


def test_the_ring_takes_at_most_its_bytes_of_memory() -> None:
    """Counted with each entry's objects, not only the events' bytes."""
    status = json.dumps({"task_id": {"value": "t" * 40}, "state": "TASK_RUNNING", "uuid": "u" * 24})
    event = task_updated_event("fw", status, "TASK_RUNNING")
    feed = Feed(Log().read)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pos = 0
        for seq in range(1, 3 * feed_module.RING_BYTES // len(event)):
            pos += len(event)
            feed.push(seq, pos, bytes(bytearray(event)))  # a new object each, as in the ledger
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert feed_module.RING_BYTES // 2 < held <= feed_module.RING_BYTES


async def test_a_reader_keeping_up_with_a_3000_task_burst_never_reads_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger publishes a batch per commit; one batch of a burst fits the ring many
    times over, so a reader that keeps up is served from memory."""
    reads = 0
    read_log = LedgerStore.read_log

    def counted(store: LedgerStore, after_seq: int, limit: int) -> list[Any]:
        nonlocal reads
        reads += 1
        return read_log(store, after_seq, limit)

    monkeypatch.setattr(LedgerStore, "read_log", counted)
    ledger = Ledger(tmp_path / "meta")
    ledger.open()
    updates = len(LIFE) * BURST

    async def read() -> int:
        received = 0
        async for chunk in ledger.feed.follow(0, 0, idle=60, batch_bytes=64 << 10):
            received += (chunk or b"").count(b'"TASK_UPDATED"')
            if received == updates:
                break
        return received

    reader = asyncio.create_task(read())
    ids = iter(range(BURST))
    await asyncio.gather(*(run_tasks(ledger, ids) for _ in range(MAX_LAUNCHING)))
    assert await reader == updates
    await ledger.close()
    assert reads == 0


BURST = 3000
LIFE = (TaskState.TASK_STAGING, TaskState.TASK_STARTING, TaskState.TASK_RUNNING)


async def run_tasks(ledger: Ledger, ids: Iterator[int]) -> None:
    """Tasks one after the other, their updates written as the agent's lifecycle does."""
    for n in ids:
        task = TaskInfo(name="t", task_id=TaskID(value=f"t{n}"), command=CommandInfo(value="true"))
        record = TaskRecord(
            task=task,
            framework=default_framework("nobody"),
            executor_id=task.task_id.value,
            container_id=ContainerID(value=str(uuid.uuid4())),
            sandbox=Path("/nonexistent"),
        )
        first, *rest = (agent_status(record, state, "agent") for state in LIFE)
        await ledger.insert(record, first)
        await asyncio.gather(*(ledger.append(record, status) for status in rest))
