"""The ``SUBSCRIBE`` event stream: RecordIO records to any number of subscribers.

Each subscriber has a bounded queue. The agent only ever puts into queues, never
waits on them: a subscriber that falls too far behind is disconnected (and may
resubscribe to get the full state) instead of stalling the agent or growing
without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from dockyard import recordio
from dockyard.messages import Event, EventType, TaskUpdated

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
"""Events a subscriber may lag behind before it is disconnected."""


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_LIMIT)
    )
    ended: bool = False


class EventHub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def publish(self, event: Event) -> None:
        record = recordio.encode(event)
        for subscriber in list(self.subscribers):
            try:
                subscriber.queue.put_nowait(record)
            except asyncio.QueueFull:
                log.warning("disconnecting a subscriber that fell %d events behind", QUEUE_LIMIT)
                self.end(subscriber)

    def end(self, subscriber: Subscriber) -> None:
        """Stop feeding ``subscriber``; its stream ends once it has drained its queue."""
        self.unsubscribe(subscriber)
        subscriber.ended = True
        with contextlib.suppress(asyncio.QueueFull):
            subscriber.queue.put_nowait(None)

    def close(self) -> None:
        """End every stream (agent shut-down)."""
        for subscriber in list(self.subscribers):
            self.end(subscriber)


def task_updated(update: TaskUpdated) -> Event:
    return Event(type=EventType.TASK_UPDATED, task_updated=update)


HEARTBEAT = Event(type=EventType.HEARTBEAT)
