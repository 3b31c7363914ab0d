"""Random (version 4) UUIDs for status updates and container ids, from pooled reads of the
kernel's random source.

``uuid.uuid4`` reads 16 bytes from the kernel per call, and every such read lets the
agent's worker threads take the GIL from the event loop, which then waits to get it back:
a launch makes five of them. One read of :data:`POOL_BYTES` serves 256 UUIDs; the bytes are
the kernel's CSPRNG's either way. A forked child starts with a new pool.
"""

from __future__ import annotations

import os
import threading
import uuid

POOL_BYTES = 16 * 256


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = b""
        self._offset = 0

    def take16(self) -> bytes:
        with self._lock:
            if self._offset == len(self._bytes):
                self._bytes, self._offset = os.urandom(POOL_BYTES), 0
            start = self._offset
            self._offset += 16
            return self._bytes[start : start + 16]

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._bytes, self._offset = b"", 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.reset)


def uuid4() -> uuid.UUID:
    """What :func:`uuid.uuid4` returns, drawn from the pool."""
    return uuid.UUID(bytes=uuid4_bytes())


def uuid4_bytes() -> bytes:
    """``uuid4().bytes`` without the UUID object (a status update's ``uuid``; the object's
    integer round trip took four times as long as the draw)."""
    raw = bytearray(_POOL.take16())
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(raw)
