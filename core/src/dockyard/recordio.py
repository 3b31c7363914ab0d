"""RecordIO, the framing of Mesos's streaming responses: ``<length>\\n<json>``."""

from __future__ import annotations

from dockyard.messages import dump
from dockyard.messages.jsontext import compact


def encode(message: object) -> bytes:
    """One record holding ``message`` as Mesos JSON."""
    body = compact(dump(message)).encode()
    return f"{len(body)}\n".encode() + body
