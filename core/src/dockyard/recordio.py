"""RecordIO, the framing of Mesos's streaming responses: ``<length>\\n<json>``."""

from __future__ import annotations

import json

from dockyard.messages import dump


def encode(message: object) -> bytes:
    """One record holding ``message`` as Mesos JSON."""
    body = json.dumps(dump(message), separators=(",", ":")).encode()
    return f"{len(body)}\n".encode() + body
