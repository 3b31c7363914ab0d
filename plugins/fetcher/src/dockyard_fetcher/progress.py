"""Download progress for whoever listens (the CLI's progress bar, tests).

Listeners are plain callables run on the event loop; they must be quick and must not raise
(an exception is logged and the listener dropped, so a broken progress bar never fails a task).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MIB = 1 << 20
INTERVAL = 0.1
"""Seconds between two reports of one download (the first and last are always reported)."""


@dataclass(frozen=True)
class FetchProgress:
    """One download's state. Shared cache downloads are reported once, not per waiting task."""

    uri: str
    received: int
    total: int | None
    """The announced size, None when the source does not say."""
    done: bool = False

    def describe(self) -> str:
        """One line for a terminal: ``app.tgz  12.0/100.0 MiB  12%``."""
        name = urlsplit(self.uri).path.rstrip("/").rsplit("/", 1)[-1] or self.uri
        received = self.received / MIB
        if self.total is None:
            return f"{name}  {received:.1f} MiB" + ("  done" if self.done else "")
        percent = 100 * self.received // self.total if self.total else 100
        return f"{name}  {received:.1f}/{self.total / MIB:.1f} MiB  {percent}%"


ProgressListener = Callable[[FetchProgress], None]


class ProgressHub:
    """Fans progress out to listeners: ``remove = hub.subscribe(callback)``."""

    def __init__(self) -> None:
        self._listeners: list[ProgressListener] = []

    def subscribe(self, listener: ProgressListener) -> Callable[[], None]:
        """Start calling ``listener``; returns the function that stops it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, progress: FetchProgress) -> None:
        for listener in list(self._listeners):
            try:
                listener(progress)
            except Exception:
                log.exception("progress listener %r failed; removing it", listener)
                self._listeners.remove(listener)

    def tracker(self, uri: str, total: int | None) -> ProgressTracker:
        return ProgressTracker(self, uri, total)


class ProgressTracker:
    """Rate-limits the reports of one download."""

    def __init__(self, hub: ProgressHub, uri: str, total: int | None) -> None:
        self._hub = hub
        self._uri = uri
        self._total = total
        self._last = 0.0
        self.received = 0

    def advance(self, count: int) -> None:
        self.received += count
        now = time.monotonic()
        if now - self._last >= INTERVAL:
            self._last = now
            self._hub.publish(FetchProgress(self._uri, self.received, self._total))

    def finish(self) -> None:
        self._hub.publish(FetchProgress(self._uri, self.received, self._total, done=True))
