"""One fetch: every URI of a CommandInfo into a sandbox, in order, downloads in parallel.

Each distinct URI value is obtained once (from the cache, or downloaded into a root-only
staging directory beside the sandbox), all of them concurrently; then the URIs are put in
place one by one in the order given, so a later URI overwrites an earlier one as the task
author expects.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dockyard import beneath
from dockyard.containers import ContainerConfig, LaunchError
from dockyard.messages import URI

from dockyard_fetcher import archives
from dockyard_fetcher.cache import Admit, CacheKey, Entry, FetchCache
from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.identity import Identity, identity_for
from dockyard_fetcher.metrics import Counters
from dockyard_fetcher.placement import move, place
from dockyard_fetcher.progress import ProgressHub
from dockyard_fetcher.sandbox import destination, make_staging
from dockyard_fetcher.schemes import SchemeRegistry, SourceRequest
from dockyard_fetcher.settings import Settings
from dockyard_fetcher.transfer import download_to
from dockyard_fetcher.uris import Location, destination_name, locate

STDERR = "stderr"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One URI, checked: where it comes from and where it lands."""

    uri: URI
    location: Location
    name: PurePosixPath
    """Sandbox-relative destination."""

    @property
    def source_key(self) -> tuple[str, bool]:
        """URIs with equal keys are downloaded once per fetch."""
        return (self.location.uri, bool(self.uri.cache))


@dataclass
class Obtained:
    """A URI's bytes on local disk: a cache entry, or a file in the sandbox's staging area."""

    path: Path
    entry: Entry | None
    uses: int
    """Items still to place from it; the last one may move a staged file instead of copying."""


class Fetcher:
    """Fetches for one agent: shares the scheme handlers, the cache and the counters."""

    def __init__(
        self,
        settings: Settings,
        schemes: SchemeRegistry,
        cache: FetchCache,
        progress: ProgressHub,
        counters: Counters,
    ) -> None:
        self.settings = settings
        self.schemes = schemes
        self.cache = cache
        self.progress = progress
        self.counters = counters

    async def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        """Fetch ``uris`` into ``config.sandbox``; raise LaunchError on the first failure."""
        if not uris:
            return
        log = _StderrLog(config.sandbox)
        try:
            await self._fetch(config, uris, log)
        except ItemError as error:
            self.counters.task_fetches_failed += 1
            message = f"Failed to fetch '{error.uri}': {error.reason}"
            log.write(message)
            raise LaunchError(message) from None
        except BaseException:
            self.counters.task_fetches_failed += 1
            raise
        self.counters.task_fetches_succeeded += 1

    async def _fetch(self, config: ContainerConfig, uris: Sequence[URI], log: _StderrLog) -> None:
        user = config.command.user or config.user
        with ItemError.about(uris[0].value):
            log.owner = identity_for(user)
        items = []
        for uri in uris:
            with ItemError.about(uri.value):
                items.append(self._item(uri))
        await _Run(self, config.sandbox, user or "", log, items).run()

    def _item(self, uri: URI) -> Item:
        location = locate(uri.value, self.settings.frameworks_home)
        self.schemes.handler_for(location.scheme)  # an unknown scheme fails before downloads
        return Item(uri=uri, location=location, name=destination_name(location, uri.output_file))

    async def download(self, request: SourceRequest, path: Path, admit: Admit | None) -> int | None:
        handler = self.schemes.handler_for(request.location.scheme)
        size = await download_to(
            handler,
            request,
            path,
            stall_timeout=self.settings.stall_timeout,
            progress=self.progress,
            admit=admit,
            durable=admit is not None,
        )
        if size is not None:
            self.counters.bytes_downloaded += size
        return size


class _Run:
    """The state of one fetch: its downloads, staging directory and cache references."""

    def __init__(
        self, fetcher: Fetcher, sandbox: Path, user: str, log: _StderrLog, items: list[Item]
    ) -> None:
        self.fetcher = fetcher
        self.sandbox = sandbox
        self.user = user
        self.owner = log.owner
        self.log = log
        self.items = items
        self.limit = asyncio.Semaphore(fetcher.settings.parallel_downloads)
        self.staging: Path | None = None
        self.staged = itertools.count()
        self.obtaining: dict[tuple[str, bool], asyncio.Task[Obtained]] = {}

    async def run(self) -> None:
        uses = Counter(item.source_key for item in self.items)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._clean_up)
            self.staging = make_staging(self.sandbox)
            for item in self.items:
                if item.source_key not in self.obtaining:
                    self.obtaining[item.source_key] = asyncio.create_task(
                        self._obtain(item, uses[item.source_key])
                    )
            for item in self.items:
                with ItemError.about(item.location.uri):
                    obtained = await self.obtaining[item.source_key]
                    how = await asyncio.to_thread(self._place, item, obtained)
                self.log.write(f"Fetched '{item.location.uri}' to '{item.name}' ({how})")

    async def _obtain(self, item: Item, uses: int) -> Obtained:
        request = SourceRequest(location=item.location, identity=self.owner)
        async with self.limit:
            if item.uri.cache:
                key = CacheKey(self.user, item.location.uri)

                async def fill(path: Path, admit: Admit) -> int | None:
                    return await self.fetcher.download(request, path, admit)

                entry = await self.fetcher.cache.obtain(key, item.location.basename, fill)
                if entry is not None:
                    return Obtained(path=entry.path, entry=entry, uses=uses)
            assert self.staging is not None
            path = self.staging / str(next(self.staged))
            await self.fetcher.download(request, path, None)
            return Obtained(path=path, entry=None, uses=uses)

    def _place(self, item: Item, obtained: Obtained) -> str:
        """Put one item in the sandbox (blocking: runs in a thread); say how."""
        obtained.uses -= 1
        with beneath.closing(beneath.open_root(self.sandbox)) as sandbox:
            extracting = item.uri.extract and not item.uri.executable
            if not extracting or not archives.is_archive_name(item.name.name):
                return self._put(sandbox, item, obtained)
            if obtained.entry is None:  # as Mesos: a downloaded archive stays, even if broken
                self._put(sandbox, item, obtained, keep=True)
            assert self.staging is not None
            archives.extract(obtained.path, item.name.name, self.staging, sandbox, self.owner)
            return "extracted" + (" from the cache" if obtained.entry is not None else "")

    def _put(self, sandbox: int, item: Item, obtained: Obtained, keep: bool = False) -> str:
        """Put the bytes at the item's name, for the task user; say how. ``keep`` leaves a
        staged download where it is (it is read again)."""
        executable = item.uri.executable
        mode = 0o755 if executable else 0o644
        suffix = ", executable" if executable else ""
        with beneath.closing(destination(sandbox, item.name, self.owner)) as directory:
            name = item.name.name
            if obtained.entry is None and obtained.uses == 0 and not keep:
                move(obtained.path, directory, name, mode=mode, owner=self.owner)
                return "downloaded" + suffix
            shared = obtained.entry is not None and not executable  # read-only cache files
            method = place(
                obtained.path, directory, name, allow_hard_link=shared, mode=mode, owner=self.owner
            )
            if obtained.entry is None:
                return "downloaded, copied" + suffix
        return f"from the cache by {method.value}{suffix}"

    async def _clean_up(self) -> None:
        for task in self.obtaining.values():
            task.cancel()
        await asyncio.gather(*self.obtaining.values(), return_exceptions=True)
        for task in self.obtaining.values():
            if not task.cancelled() and task.exception() is None:
                entry = task.result().entry
                if entry is not None:
                    self.fetcher.cache.release(entry)
        if self.staging is not None:
            await asyncio.to_thread(shutil.rmtree, self.staging, ignore_errors=True)


class _StderrLog:
    """Lines for the sandbox's ``stderr``: one per URI fetched and per failure."""

    def __init__(self, sandbox: Path) -> None:
        self.sandbox = sandbox
        self.owner: Identity | None = None

    def write(self, line: str) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        owner = None if self.owner is None else (self.owner.uid, self.owner.gid)
        try:
            with beneath.closing(beneath.open_root(self.sandbox)) as sandbox:
                fd = beneath.open_regular(sandbox, STDERR, flags, owner=owner)
        except beneath.Refused as error:
            log.warning("Not writing to '%s' of %s: %s", STDERR, self.sandbox, error.strerror)
            return
        with beneath.closing(fd):
            os.write(fd, f"{line}\n".encode())


class ItemError(Exception):
    """A :class:`FetchError` tied to the URI it happened to."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"{uri}: {reason}")
        self.uri = uri
        self.reason = reason

    @staticmethod
    @contextmanager
    def about(uri: str) -> Iterator[None]:
        try:
            yield
        except FetchError as error:
            raise ItemError(uri, str(error)) from None
        except OSError as error:  # e.g. the sandbox's disk is full
            where = f": '{error.filename}'" if error.filename else ""
            raise ItemError(uri, f"{error.strerror or error}{where}") from None
