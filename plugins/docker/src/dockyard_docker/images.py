"""Image pulls: Mesos's reference rules, one shared pull per image, progress in the log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from docker import APIClient
from docker.errors import APIError, ImageNotFound
from docker.utils import parse_repository_tag

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 2.0
"""Seconds between two progress lines for one pull."""


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
    """Per-layer byte counts from the Engine's pull stream, summarised for the log."""

    reference: str
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    last_report: float = 0.0

    def update(self, message: dict[str, Any]) -> None:
        layer = message.get("id")
        if not layer:
            return
        detail = message.get("progressDetail") or {}
        if detail.get("total"):
            self.layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        if message.get("status") in ("Pull complete", "Already exists"):
            self.done.add(layer)

    def report(self, now: float) -> str | None:
        if now - self.last_report < PROGRESS_INTERVAL:
            return None
        self.last_report = now
        current = sum(c for c, _ in self.layers.values())
        total = sum(t for _, t in self.layers.values())
        return (
            f"Pulling image '{self.reference}': {len(self.done)} layers done, "
            f"{current / 1e6:.1f} of {total / 1e6:.1f} MB downloaded"
        )


def consume_pull_stream(reference: str, messages: Iterable[dict[str, Any]]) -> None:
    progress = PullProgress(reference)
    for message in messages:
        if "error" in message:
            raise PullError(str(message["error"]))
        progress.update(message)
        line = progress.report(time.monotonic())
        if line:
            log.info("%s", line)


def pull_image(
    api: APIClient, reference: str, force: bool, credentials: dict[str, Any] | None
) -> None:
    """Blocking: pull ``reference`` unless it is present (or ``force``)."""
    if not force:
        try:
            api.inspect_image(reference)  # type: ignore[no-untyped-call]  # stubs lack it
            return
        except ImageNotFound:
            pass
    repository, tag = parse_repository_tag(reference)
    log.info("Pulling image '%s'", reference)
    try:
        stream = api.pull(repository, tag=tag, stream=True, decode=True, auth_config=credentials)
        consume_pull_stream(reference, stream)
    except APIError as error:
        raise PullError(str(error.explanation or error)) from None
    api.inspect_image(reference)  # type: ignore[no-untyped-call]  # stubs lack it


class PullCoordinator:
    """Shares one pull between concurrent launches of the same image and credentials.

    A waiter that is cancelled (the container was destroyed while pulling) leaves the
    shared pull running for the others; the Engine finishes it in the background.
    """

    def __init__(self, run_blocking: Callable[..., asyncio.Future[Any]]) -> None:
        self._run_blocking = run_blocking
        self._pulls: dict[tuple[str, str], asyncio.Future[None]] = {}

    async def pull(
        self,
        api: APIClient,
        reference: str,
        force: bool,
        credentials: dict[str, Any] | None,
        credentials_key: str,
    ) -> None:
        key = (reference, credentials_key)
        shared = self._pulls.get(key)
        if shared is None:
            shared = asyncio.ensure_future(
                self._run_blocking(pull_image, api, reference, force, credentials)
            )
            self._pulls[key] = shared
            shared.add_done_callback(lambda _: self._pulls.pop(key, None))
        await asyncio.shield(shared)
