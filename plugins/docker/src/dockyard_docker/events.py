"""The one Engine events watcher of the plugin: every container exit of this agent, no polling.

A single coroutine follows ``GET /events`` filtered on this agent's label and hands each
``die``/``oom`` event to the plugin, on the agent's event loop: no thread, whatever the number
of containers. If the stream breaks (daemon restart) it reconnects from the last event it
saw, so no exit is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from dockyard_docker import naming
from dockyard_docker.engine_streams import EngineError, EngineStreams, json_lines

log = logging.getLogger(__name__)

RECONNECT_DELAY = 1.0
SUBSCRIBE_TIMEOUT = 10.0
"""Seconds ``start`` waits for the Engine to accept the subscription before going on."""

ContainerEvent = Callable[[str, str], None]
"""Called with (docker container id, action)."""
Reconnected = Callable[[], None]
"""Called after the stream was re-established (exits may have been missed meanwhile)."""


class EventWatcher:
    def __init__(
        self,
        streams: EngineStreams,
        agent_id: str,
        on_event: ContainerEvent,
        on_reconnect: Reconnected,
    ) -> None:
        self._streams = streams
        self._filters = json.dumps(
            {
                "type": ["container"],
                "event": ["die", "oom"],
                "label": [f"{naming.AGENT_LABEL}={agent_id}"],
            }
        )
        self._on_event = on_event
        self._on_reconnect = on_reconnect
        self._connected = asyncio.Event()
        self._response: aiohttp.ClientResponse | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start watching; returns once the Engine has accepted the subscription."""
        self._task = asyncio.create_task(self._run(), name="docker-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), SUBSCRIBE_TIMEOUT)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def break_stream(self) -> None:
        """Drop the connection, as a daemon restart does (the watcher reconnects)."""
        if self._response is not None:
            self._response.close()

    async def _run(self) -> None:
        since = int(time.time())
        while True:
            try:
                params = {"since": str(since), "filters": self._filters}
                async with self._streams.open("GET", "/events", params) as response:
                    self._response = response
                    if self._connected.is_set():
                        self._on_reconnect()
                    self._connected.set()
                    async for event in json_lines(response):
                        since = max(since, int(event.get("time", since)))
                        self._dispatch(event)
            except (aiohttp.ClientError, EngineError, OSError, ValueError) as error:
                log.warning("Docker events stream broke (%s); reconnecting", error)
            finally:
                self._response = None
            await asyncio.sleep(RECONNECT_DELAY)
            log.info("Reconnecting to the Docker events stream")

    def _dispatch(self, event: dict[str, Any]) -> None:
        docker_id = event.get("id") or event.get("Actor", {}).get("ID")
        action = event.get("Action") or event.get("status")
        if docker_id and action:
            try:
                self._on_event(docker_id, action)
            except Exception:  # one bad event must not end the watching of all containers
                log.exception("Handling Docker event %s of %s failed", action, docker_id[:12])
