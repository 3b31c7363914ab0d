"""Compact JSON by ``orjson``, with the standard library for what ``orjson`` refuses.

Every status update is encoded on the agent's event loop several times (ledger row, event,
supervisor request), where the standard library takes ten times longer. ``orjson``
refuses integers beyond 64 bits (a client may send them) and strings with a lone surrogate
(bytes decoded with ``surrogateescape``: a path, a secret's value): those are written by
the standard library, and either's output is read back by :func:`loads`. A light module:
the supervisor imports it without the message schemas.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: object) -> bytes:
    """JSON without spaces, non-ASCII as UTF-8 (escaped where the fallback writes it)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    """What :func:`dumps` wrote, or any JSON; ValueError if it is none."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # escaped lone surrogates, or not JSON: then it says why
        return json.loads(data)
