"""The one Engine events watcher of the plugin: every container exit of this agent, no polling.

A single thread follows ``GET /events`` filtered on this agent's label and hands each
``die``/``oom`` event to the event loop. If the stream breaks (daemon restart) it
reconnects from the last event it saw, so no exit is missed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from docker import APIClient
from docker.errors import DockerException
from requests.exceptions import RequestException

from dockyard_docker import naming

log = logging.getLogger(__name__)

RECONNECT_DELAY = 1.0

ContainerEvent = Callable[[str, str], None]
"""Called on the event loop with (docker container id, action)."""
Reconnected = Callable[[], None]
"""Called on the event loop after the stream was re-established (exits may have been missed)."""


class EventWatcher:
    def __init__(
        self,
        api: APIClient,
        agent_id: str,
        loop: asyncio.AbstractEventLoop,
        on_event: ContainerEvent,
        on_reconnect: Reconnected,
    ) -> None:
        self._api = api
        self._filters = {
            "type": "container",
            "event": ["die", "oom"],
            "label": [f"{naming.AGENT_LABEL}={agent_id}"],
        }
        self._loop = loop
        self._on_event = on_event
        self._on_reconnect = on_reconnect
        self._stream: Any = None
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docker-events", daemon=True)

    def start(self) -> None:
        """Start watching; returns once the Engine has accepted the subscription."""
        self._thread.start()
        self._connected.wait(timeout=10)

    def stop(self) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        since = int(time.time())
        while not self._stopping.is_set():
            try:
                self._stream = self._api.events(since=since, filters=self._filters, decode=True)
                if self._connected.is_set():
                    self._loop.call_soon_threadsafe(self._on_reconnect)
                self._connected.set()
                for event in self._stream:
                    since = max(since, int(event.get("time", since)))
                    self._dispatch(event)
            except (DockerException, RequestException, OSError, AttributeError) as error:
                if self._stopping.is_set():
                    return
                log.warning("Docker events stream broke (%s); reconnecting", error)
            if not self._stopping.wait(RECONNECT_DELAY):
                log.info("Reconnecting to the Docker events stream")

    def _dispatch(self, event: dict[str, Any]) -> None:
        docker_id = event.get("id") or event.get("Actor", {}).get("ID")
        action = event.get("Action") or event.get("status")
        if docker_id and action:
            self._loop.call_soon_threadsafe(self._on_event, docker_id, action)
