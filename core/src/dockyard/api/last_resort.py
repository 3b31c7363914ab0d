"""The last line of defence: an exception that no handler expected never becomes a 500.

Handlers answer every input a client can send with a status naming the problem; an
exception reaching this middleware is a bug. It is logged at ERROR with its traceback
and :data:`MARKER` (tests assert that it never appears), and the client gets a 400 with
a reference into that log instead of a 500, so a bug shows no traceback to clients.
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

MARKER = "UNEXPECTED ERROR"


@web.middleware
async def last_resort(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        reference = secrets.token_hex(4)
        log.exception("%s [%s] in %s %s", MARKER, reference, request.method, request.path)
        return web.Response(
            status=400,
            text=f"The agent could not process this request (a bug in dockyard; "
            f"its log has the details under reference {reference})",
        )
