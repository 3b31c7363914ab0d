"""Pull progress as one line per report (``watch_progress``'s form), rate-limited."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MIB = 1 << 20
REPORT_INTERVAL = 0.25
LOG_INTERVAL = 2.0

Report = Callable[[str], None]


class LayerProgress:
    """Bytes of one layer downloaded so far; every pull that waits on it is told."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.done = 0
        self.watchers: list[PullProgress] = []

    def advance(self, done: int) -> None:
        self.done = done
        for watcher in self.watchers:
            watcher.changed()


class PullProgress:
    """``127.0.0.1:5000/app:v1  3.0/12.0 MiB  25%`` to the pull's listeners and the log."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self.layers: list[LayerProgress] = []
        self.listeners: list[Report] = []
        self._reported = self._logged = time.monotonic()

    def watch(self, layer: LayerProgress) -> None:
        self.layers.append(layer)
        layer.watchers.append(self)

    def describe(self) -> str:
        done = sum(layer.done for layer in self.layers)
        total = sum(layer.size for layer in self.layers)
        percent = 100 * done // total if total else 100
        return f"{self.reference}  {done / MIB:.1f}/{total / MIB:.1f} MiB  {percent}%"

    def changed(self) -> None:
        now = time.monotonic()
        if now - self._reported >= REPORT_INTERVAL:
            self._reported = now
            self._tell(self.describe())
        if now - self._logged >= LOG_INTERVAL:
            self._logged = now
            log.info("Pulling image: %s", self.describe())

    def finish(self) -> None:
        for layer in self.layers:
            layer.done = layer.size
        self._tell(self.describe() + "\n")
        for layer in self.layers:
            if self in layer.watchers:
                layer.watchers.remove(self)

    def _tell(self, line: str) -> None:
        for listener in self.listeners:
            try:
                listener(line)
            except Exception:  # a front end's failure is not the pull's
                log.exception("progress listener failed")
