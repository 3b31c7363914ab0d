"""``POST /api/v1/executor``: the Mesos v1 executor HTTP API.

``SUBSCRIBE`` opens a RecordIO stream of events (SUBSCRIBED, LAUNCH, KILL,
ACKNOWLEDGED, MESSAGE, SHUTDOWN, HEARTBEAT); ``UPDATE``, ``MESSAGE`` and
``HEARTBEAT`` are separate requests answered ``202 Accepted``.
"""

from __future__ import annotations

import base64
import logging

from aiohttp import web

from dockyard import recordio
from dockyard.api.body import json_body
from dockyard.api.keys import AGENT, HEARTBEAT_SECONDS
from dockyard.api.streaming import stream_records
from dockyard.executors import InvalidUpdateError, UnknownExecutorError
from dockyard.messages import (
    ExecutorCall,
    ExecutorCallType,
    ExecutorEvent,
    ExecutorEventType,
    MessageError,
    load,
)
from dockyard.validation import validate_executor_call

log = logging.getLogger(__name__)

HEARTBEAT = ExecutorEvent(type=ExecutorEventType.HEARTBEAT)


async def handle(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, path="call")
    try:
        call = load(ExecutorCall, body, path="call")
        validate_executor_call(call)
    except MessageError as error:
        return web.Response(status=400, text=str(error))
    executors = request.app[AGENT].executors
    try:
        if call.type is ExecutorCallType.SUBSCRIBE:
            return await stream_events(request, call)
        if call.type is ExecutorCallType.UPDATE:
            executors.update(call)
        elif call.type is ExecutorCallType.MESSAGE:
            executor = executors.find(call)
            data = call.message.data if call.message else b""
            log.info("message from executor %s: %s", executor.key, base64.b64encode(data).decode())
        else:
            executors.find(call)
    except UnknownExecutorError as error:
        return web.Response(status=404, text=str(error))
    except InvalidUpdateError as error:
        return web.Response(status=400, text=str(error))
    return web.Response(status=202)


async def stream_events(request: web.Request, call: ExecutorCall) -> web.StreamResponse:
    executors = request.app[AGENT].executors
    executor = executors.find(call)
    queue = executors.subscribe(call)
    heartbeat = request.app[HEARTBEAT_SECONDS]
    try:
        return await stream_records(
            request, queue, heartbeat=recordio.encode(HEARTBEAT), interval=heartbeat
        )
    finally:
        executors.disconnected(executor, queue)
