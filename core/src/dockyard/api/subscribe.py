"""``SUBSCRIBE``: the current state, then every task update, as a RecordIO stream."""

from __future__ import annotations

from aiohttp import web

from dockyard import recordio
from dockyard.api import views
from dockyard.api.events import HEARTBEAT
from dockyard.api.keys import AGENT, EVENTS, HEARTBEAT_SECONDS
from dockyard.api.streaming import stream_records
from dockyard.messages import Call, Event, EventType, Subscribed


async def subscribe(request: web.Request, call: Call) -> web.StreamResponse:
    hub = request.app[EVENTS]
    heartbeat = request.app[HEARTBEAT_SECONDS]
    # Take the state and join the hub with no await in between, so that no update
    # falls between the snapshot and the stream.
    state = views.get_state(request.app[AGENT])
    subscriber = hub.subscribe()
    subscribed = Event(
        type=EventType.SUBSCRIBED,
        subscribed=Subscribed(get_state=state, heartbeat_interval_seconds=heartbeat),
    )
    try:
        return await stream_records(
            request,
            subscriber.queue,
            heartbeat=recordio.encode(HEARTBEAT),
            interval=heartbeat,
            first=recordio.encode(subscribed),
            finished=lambda: subscriber.ended,
        )
    finally:
        hub.unsubscribe(subscriber)
