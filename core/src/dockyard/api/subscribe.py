"""``SUBSCRIBE``: the current state, then every task update, as a RecordIO stream.

The stream follows the ledger's feed at the reader's own pace (see
:mod:`dockyard.ledger.feed`): a reader that keeps up is never dropped.
"""

from __future__ import annotations

from aiohttp import web

from dockyard import recordio
from dockyard.api import views
from dockyard.api.keys import AGENT, HEARTBEAT_SECONDS
from dockyard.messages import Call, Event, EventType, Subscribed

HEARTBEAT = recordio.encode(Event(type=EventType.HEARTBEAT))
WRITE_BYTES = 64 << 10
"""Published events sent to a reader in one write, at most (about)."""


async def subscribe(request: web.Request, call: Call) -> web.StreamResponse:
    agent = request.app[AGENT]
    feed = agent.ledger.feed
    heartbeat = request.app[HEARTBEAT_SECONDS]
    # The state and the feed position are taken with no await in between, so that
    # no update falls between the snapshot and the stream.
    state = views.get_state(agent)
    seq, pos = feed.head_seq, feed.head_pos
    subscribed = Event(
        type=EventType.SUBSCRIBED,
        subscribed=Subscribed(get_state=state, heartbeat_interval_seconds=heartbeat),
    )
    response = web.StreamResponse(headers={"Content-Type": "application/recordio"})
    try:
        await response.prepare(request)
        await response.write(recordio.encode(subscribed))
        async for event in feed.follow(seq, pos, heartbeat, WRITE_BYTES):
            await response.write(HEARTBEAT if event is None else event)
    except ConnectionResetError:
        pass  # the client went away
    return response
