"""``SUBSCRIBE``: the current state, then every task update, as a RecordIO stream."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api import views
from dockyard.api.events import HEARTBEAT, recordio
from dockyard.api.keys import AGENT, EVENTS, HEARTBEAT_SECONDS
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
    response = web.StreamResponse(headers={"Content-Type": "application/recordio"})
    try:
        await response.prepare(request)
        await response.write(recordio(subscribed))
        while not (subscriber.ended and subscriber.queue.empty()):
            try:
                record = await asyncio.wait_for(subscriber.queue.get(), heartbeat)
            except TimeoutError:
                record = recordio(HEARTBEAT)
            if record is None:
                break
            await response.write(record)
    except ConnectionResetError:
        pass  # the subscriber went away
    finally:
        hub.unsubscribe(subscriber)
    return response
