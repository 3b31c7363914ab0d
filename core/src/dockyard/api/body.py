"""Request bodies: JSON parsed so that whatever a client sends is a 400 naming the problem."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard.messages import MessageError, parse_json


async def json_body(request: web.Request, *, path: str) -> Any:
    """The parsed body; raises a 400 for bytes that are not UTF-8 JSON within our limits."""
    try:
        return parse_json(await request.read(), path=path)
    except MessageError as error:
        raise web.HTTPBadRequest(text=f"Failed to parse body into JSON: {error}") from None
