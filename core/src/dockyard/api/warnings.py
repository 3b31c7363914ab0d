"""Unknown keys of an API call: logged, and told to the caller in a way Mesos clients ignore.

A response that has no body (``LAUNCH_TASK``'s ``202``) gets ``{"warnings": [...]}``; one
with a JSON object gets a ``warnings`` member beside Mesos's; every one gets a standard
``Warning`` header (fixed ASCII text with the count, so no key can reach a header). A
call without unknown keys is answered exactly as Mesos answers it.
"""

from __future__ import annotations

import json
import logging

from aiohttp import hdrs, web

from dockyard.messages.unknown import UnknownFields

log = logging.getLogger(__name__)

WARNINGS = "warnings"
"""The response member that lists the warnings, one line each."""


def log_unknown_fields(call_type: str, unknown: UnknownFields) -> None:
    """One log line per call: the keys' paths, never their values."""
    if unknown:
        log.warning("%s call has unknown fields: %s", call_type, "; ".join(unknown.lines()))


def with_warnings(response: web.StreamResponse, unknown: UnknownFields) -> web.StreamResponse:
    """``response``, telling the caller about the call's unknown keys."""
    if not unknown or response.prepared or not isinstance(response, web.Response):
        return response  # a stream (SUBSCRIBE) has begun: its caller has the log only
    plural = "s" if unknown.total > 1 else ""
    response.headers[hdrs.WARNING] = f'299 dockyard "{unknown.total} unknown field{plural} ignored"'
    lines = unknown.lines()
    if not response.body:
        response.body = json.dumps({WARNINGS: lines}).encode()
        response.content_type = "application/json"
    elif response.content_type == "application/json":
        answer = json.loads(response.text or "null")
        if isinstance(answer, dict):
            response.body = json.dumps({**answer, WARNINGS: lines}).encode()
    return response
