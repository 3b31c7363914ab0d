"""Image pulls: Mesos's reference rules, one shared pull per image, cancelled in the Engine
when no launch waits for it any more, progress to front ends and the log."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from docker.auth import encode_header
from docker.utils import parse_repository_tag

from dockyard_docker.engine_streams import EngineError, EngineStreams, json_lines

log = logging.getLogger(__name__)

MIB = 1 << 20
LOG_INTERVAL = 2.0
"""Seconds between two progress lines for one pull in the agent's log."""
REPORT_INTERVAL = 0.25
"""Seconds between two progress reports to front ends (``watch_progress``)."""
DOWNLOADED = ("Download complete", "Verifying Checksum", "Pull complete")


class PullError(Exception):
    """A pull failed; the message is the registry's reason (never a credential)."""


def normalize_reference(image: str) -> str:
    """``image`` without a tag means ``:latest`` (a registry port is not a tag)."""
    last = image.rsplit("/", 1)[-1]
    if ":" in last or "@" in last:
        return image
    return f"{image}:latest"


@dataclass
class PullProgress:
    """Download progress of one pull, summed over its layers from the Engine's messages."""

    reference: str
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Bytes downloaded and total per layer; extraction progress is not counted."""

    def update(self, message: dict[str, Any]) -> None:
        layer = message.get("id")
        if not layer:
            return
        detail = message.get("progressDetail") or {}
        status = message.get("status")
        if status == "Downloading" and detail.get("total"):
            self.layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        elif status in DOWNLOADED and layer in self.layers:
            total = self.layers[layer][1]
            self.layers[layer] = (total, total)

    def describe(self) -> str:
        """One line for a terminal: ``busybox:latest  3.0/12.0 MiB  25%``."""
        current = sum(c for c, _ in self.layers.values())
        total = sum(t for _, t in self.layers.values())
        percent = 100 * current // total if total else 100
        return f"{self.reference}  {current / MIB:.1f}/{total / MIB:.1f} MiB  {percent}%"


class ProgressListeners:
    """The front ends that asked for progress (``watch_progress``)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def add(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def __call__(self, line: str) -> None:
        for listener in self._listeners:
            listener(line)


class ProgressReporter:
    """Rate-limits one pull's progress: to front ends a few times a second (and once when
    done), to the log every few seconds."""

    def __init__(self, reference: str, report: Callable[[str], None]) -> None:
        self.progress = PullProgress(reference)
        self._report = report
        self._reported = self._logged = time.monotonic()

    def update(self, message: dict[str, Any]) -> None:
        self.progress.update(message)
        now = time.monotonic()
        if now - self._reported >= REPORT_INTERVAL:
            self._reported = now
            self._report(self.progress.describe())
        if now - self._logged >= LOG_INTERVAL:
            self._logged = now
            log.info("Pulling image: %s", self.progress.describe())

    def finish(self) -> None:
        self._report(self.progress.describe() + "\n")


async def pull_image(
    streams: EngineStreams,
    reference: str,
    credentials: dict[str, Any] | None,
    report: Callable[[str], None],
) -> None:
    """Pull ``reference`` through the Engine. Cancelling it closes the pull's stream, and
    the Engine then abandons the pull (once no other client waits for the same layers)."""
    repository, tag = parse_repository_tag(reference)
    headers = {"X-Registry-Auth": encode_header(credentials).decode()} if credentials else None
    reporter = ProgressReporter(reference, report)
    log.info("Pulling image '%s'", reference)
    try:
        async with streams.open(
            "POST", "/images/create", {"fromImage": repository, "tag": tag or "latest"}, headers
        ) as response:
            async for message in json_lines(response):
                if "error" in message:
                    raise PullError(str(message["error"]))
                reporter.update(message)
        if await image_inspect(streams, reference) is None:
            raise PullError("the image is not there after the pull")
    except (EngineError, aiohttp.ClientError) as error:
        raise PullError(str(error)) from None
    reporter.finish()


async def image_inspect(streams: EngineStreams, reference: str) -> dict[str, Any] | None:
    inspected: dict[str, Any] | None = await streams.json(f"/images/{reference}/json")
    return inspected


@dataclass(eq=False)
class SharedPull:
    pulling: asyncio.Task[None]
    waiters: int = 0


class PullCoordinator:
    """Shares one pull between concurrent launches of the same image and credentials.

    A waiter that is cancelled (its container was destroyed while pulling) leaves the pull
    to the others; when the last one goes, the pull is cancelled, in the Engine too.
    """

    def __init__(self) -> None:
        self._pulls: dict[Hashable, SharedPull] = {}

    async def pull(self, key: Hashable, start: Callable[[], Awaitable[None]]) -> None:
        """Wait for the pull of ``key``, calling ``start`` to begin it if none runs."""
        shared = self._pulls.get(key)
        if shared is None:
            shared = SharedPull(asyncio.ensure_future(start()))
            self._pulls[key] = shared
            shared.pulling.add_done_callback(functools.partial(self._ended, key, shared))
        shared.waiters += 1
        try:
            await asyncio.shield(shared.pulling)
        finally:
            shared.waiters -= 1
            if shared.waiters == 0 and not shared.pulling.done():
                self._pulls.pop(key, None)  # a later launch starts afresh
                shared.pulling.cancel()

    def _ended(self, key: Hashable, shared: SharedPull, pulling: asyncio.Task[None]) -> None:
        if self._pulls.get(key) is shared:
            del self._pulls[key]
        if not pulling.cancelled():
            pulling.exception()  # retrieved here: every waiter may have gone
