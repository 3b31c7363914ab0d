"""The ``fetcher`` plugin: the ``fetch`` hook, its flags, metrics and life cycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from dockyard import hookimpl
from dockyard.containers import AgentContext, ContainerConfig, StartupError
from dockyard.discovery import FETCHERS, instantiate
from dockyard.flags import FlagSet
from dockyard.messages import URI
from stevedore import ExtensionManager

from dockyard_fetcher import settings as flags_module
from dockyard_fetcher.cache import FetchCache
from dockyard_fetcher.fetching import Fetcher
from dockyard_fetcher.metrics import Counters
from dockyard_fetcher.progress import FetchProgress, ProgressHub
from dockyard_fetcher.schemes import SchemeHandler, SchemeRegistry
from dockyard_fetcher.settings import Settings

log = logging.getLogger(__name__)


class FetcherPlugin:
    """Fetches ``CommandInfo.uris`` for every containerizer.

    ``progress`` is the hub a front end subscribes to for download progress.
    """

    def __init__(self) -> None:
        self.progress = ProgressHub()
        self.counters = Counters()
        self._fetcher: Fetcher | None = None

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        flags_module.declare(flags)

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        await self.configure(
            Settings.from_flags(context.flags, context.work_dir), discover_handlers()
        )

    async def configure(self, settings: Settings, handlers: Iterable[SchemeHandler]) -> None:
        """Start with explicit settings and handlers (what ``start`` does from the flags)."""
        home = settings.frameworks_home
        if home is not None and not home.is_absolute():
            raise StartupError(f"--frameworks_home must be an absolute path, not '{home}'")
        cache = FetchCache(settings.cache_dir, settings.cache_size)
        try:
            await asyncio.to_thread(cache.load)
        except OSError as error:
            raise StartupError(
                f"cannot use the fetcher cache directory '{settings.cache_dir}': {error}"
            ) from error
        self._fetcher = Fetcher(
            settings, SchemeRegistry(handlers), cache, self.progress, self.counters
        )

    @hookimpl
    async def stop(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.cache.close()
            await self._fetcher.schemes.close()
            self._fetcher = None

    @hookimpl
    def fetch_schemes(self) -> Collection[str]:
        """Plain paths, file:, http(s): and every installed handler's schemes; ``*`` with
        fsspec. A third-party fetcher naming a scheme explicitly is asked first."""
        return self._started().schemes.claims()

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> Awaitable[None] | None:
        return self._started().fetch(config, uris)

    def _started(self) -> Fetcher:
        if self._fetcher is None:
            raise RuntimeError("the fetcher plugin was not started")
        return self._fetcher

    @hookimpl
    def watch_progress(self, report: Callable[[str], None]) -> None:
        def forward(progress: FetchProgress) -> None:
            report(progress.describe() + ("\n" if progress.done else ""))

        self.progress.subscribe(forward)

    @hookimpl
    def metrics(self) -> Mapping[str, float]:
        cache = self._fetcher.cache if self._fetcher is not None else None
        return self.counters.snapshot(
            cache_total=cache.capacity if cache else 0,
            cache_used=cache.used if cache else 0,
            cache_hits=cache.hits if cache else 0,
        )


def discover_handlers() -> list[SchemeHandler]:
    """The scheme handlers among the ``dockyard.fetchers`` entry points, in name order."""
    manager: Any = ExtensionManager(namespace=FETCHERS, invoke_on_load=False)
    handlers = []
    for extension in sorted(manager.extensions, key=lambda extension: extension.name):
        try:
            candidate = instantiate(extension.plugin)
        except Exception:
            log.exception("fetcher entry point '%s' failed to load", extension.name)
            continue
        if isinstance(candidate, SchemeHandler):
            handlers.append(candidate)
    return handlers
