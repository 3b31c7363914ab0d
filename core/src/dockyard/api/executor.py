"""``POST /api/v1/executor``: the Mesos v1 executor HTTP API.

``SUBSCRIBE`` opens a RecordIO stream of events (SUBSCRIBED, LAUNCH, KILL,
ACKNOWLEDGED, MESSAGE, SHUTDOWN, HEARTBEAT); ``UPDATE``, ``MESSAGE`` and
``HEARTBEAT`` are separate requests answered ``202 Accepted``.

With executor authentication (the default) every call carries the executor's
token: none or a bad one is a 401, one for another executor or an earlier
container of this one a 403, both before the call is looked at further.
"""

from __future__ import annotations

import base64
import logging

from aiohttp import hdrs, web

from dockyard import recordio
from dockyard.api.body import json_body
from dockyard.api.keys import AGENT, HEARTBEAT_SECONDS
from dockyard.api.streaming import stream_records
from dockyard.executor_tokens import ExecutorClaims, TokenError
from dockyard.executors import Executors, InvalidUpdateError, UnknownExecutorError
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
REALM = "dockyard-executor"


async def handle(request: web.Request) -> web.StreamResponse:
    executors = request.app[AGENT].executors
    claims = None
    if executors.tokens is not None:
        try:
            claims = executors.tokens.authenticate(request.headers.get(hdrs.AUTHORIZATION))
        except TokenError as error:
            return unauthorized(error, given=hdrs.AUTHORIZATION in request.headers)
    body = await json_body(request, path="call")
    try:
        call = load(ExecutorCall, body, path="call")
        validate_executor_call(call)
    except MessageError as error:
        return web.Response(status=400, text=str(error))
    try:
        if claims is not None and (refusal := forbidden(claims, call, executors)) is not None:
            return refusal
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
    except (InvalidUpdateError, MessageError) as error:  # MessageError: too large to keep
        return web.Response(status=400, text=str(error))
    return web.Response(status=202)


def unauthorized(error: TokenError, *, given: bool) -> web.Response:
    challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if given else "")
    return web.Response(
        status=401, text=f"Unauthorized: {error}", headers={hdrs.WWW_AUTHENTICATE: challenge}
    )


def forbidden(
    claims: ExecutorClaims, call: ExecutorCall, executors: Executors
) -> web.Response | None:
    """A 403 when the token is not the calling executor's: its ids, then its current container.

    The ids are compared before the executor is looked up, so that a token learns
    nothing about which other executors exist.
    """
    framework_id, executor_id = call.framework_id.value, call.executor_id.value
    reason = claims.mismatch(framework_id, executor_id) or claims.mismatch(
        framework_id, executor_id, executors.find(call).container_id.value
    )
    return None if reason is None else web.Response(status=403, text=f"Forbidden: {reason}")


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
