"""The download cache: one file per (user, URI), LRU-evicted within a size budget, kept
across agent restarts.

Unlike Mesos (which wipes its cache on every start), the index is a JSON file beside the
files, rewritten atomically on every change. On start an entry survives only if its file is
there with the recorded size and modification time; stray files (a crash mid-download) are
removed. A hit is checked the same way, so a cache file changed through a hard link is
downloaded again rather than served. Cache files are read-only and owned by the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INDEX = "index.json"
FILES = "files"
_INDEX_VERSION = 1
_CACHE_FILE = re.compile(r"\.?c\d+-.*")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

Admit = Callable[[int | None], bool]
"""Told the announced size (None: unknown) before the body is read; False refuses it."""
Fill = Callable[[Path, Admit], Awaitable[int | None]]
"""Downloads into the given path, asking ``admit`` first; returns the size, None if refused."""


@dataclass(frozen=True)
class CacheKey:
    """Mesos's key: the URI per user ("" for tasks without a user)."""

    user: str
    uri: str


@dataclass
class Entry:
    key: CacheKey
    path: Path
    size: int
    mtime_ns: int
    refs: int = field(default=0, compare=False)
    """Fetches currently placing this file; a referenced entry is never evicted."""


class FetchCache:
    """Cache bookkeeping; single-threaded (the event loop), blocking only on small metadata."""

    def __init__(self, directory: Path, capacity: int) -> None:
        self.directory = directory
        self.capacity = capacity
        self.hits = 0
        self._entries: OrderedDict[CacheKey, Entry] = OrderedDict()  # oldest use first
        self._filling: dict[CacheKey, asyncio.Task[Entry | None]] = {}
        self._reserved = 0
        self._next_serial = 1

    @property
    def used(self) -> int:
        return sum(entry.size for entry in self._entries.values()) + self._reserved

    def lru_order(self) -> list[CacheKey]:
        """Cached keys, least recently used first."""
        return list(self._entries)

    # -- start-up -----------------------------------------------------------

    def load(self) -> None:
        """Read the index left by the previous agent, keep what is still valid, drop the rest."""
        (self.directory / FILES).mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        for record in self._read_index():
            try:
                entry = Entry(
                    key=CacheKey(str(record["user"]), str(record["uri"])),
                    path=self.directory / FILES / Path(str(record["file"])).name,
                    size=int(record["size"]),
                    mtime_ns=int(record["mtime_ns"]),
                )
            except (KeyError, TypeError, ValueError):
                log.warning("ignoring a malformed fetcher cache index record: %r", record)
                continue
            if self._intact(entry):
                self._entries[entry.key] = entry
        known = {entry.path.name for entry in self._entries.values()}
        for path in (self.directory / FILES).iterdir():
            if path.name not in known and _CACHE_FILE.fullmatch(path.name):
                path.unlink(missing_ok=True)
        self._save()

    def _read_index(self) -> list[Any]:
        try:
            data = json.loads((self.directory / INDEX).read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as error:
            log.warning("fetcher cache index unreadable (%s); starting with an empty cache", error)
            return []
        if not isinstance(data, dict) or data.get("version") != _INDEX_VERSION:
            return []
        self._next_serial = max(self._next_serial, int(data.get("next_serial", 1)))
        records = data.get("entries", [])
        return records if isinstance(records, list) else []

    # -- lookups ------------------------------------------------------------

    async def obtain(self, key: CacheKey, basename: str, fill: Fill) -> Entry | None:
        """A referenced, intact entry for ``key``, downloaded once however many fetches ask.

        Returns None when the file cannot be cached (larger than the cache, or no room that
        eviction could make): the caller then downloads it directly (a second request: the
        first stopped after the headers announced the size). A download failure is
        raised to every fetch waiting for it. Call :meth:`release` when done with the entry.
        """
        if self.capacity == 0:
            return None
        hit = True
        while True:
            entry = self._entries.get(key)
            if entry is not None and self._check(entry):
                entry.refs += 1
                self._entries.move_to_end(key)
                self._save()
                if hit:
                    self.hits += 1
                return entry
            hit = False
            filling = self._filling.get(key)
            if filling is None:
                filling = asyncio.create_task(self._fill(key, basename, fill))
                self._filling[key] = filling
                filling.add_done_callback(self._forget_fill(key))
            if await asyncio.shield(filling) is None:
                return None

    def release(self, entry: Entry) -> None:
        entry.refs -= 1

    def _forget_fill(self, key: CacheKey) -> Callable[[asyncio.Task[Entry | None]], None]:
        def forget(task: asyncio.Task[Entry | None]) -> None:
            if self._filling.get(key) is task:
                del self._filling[key]
            if not task.cancelled():
                task.exception()  # retrieved here: waiters that left must not leave it unseen

        return forget

    async def _fill(self, key: CacheKey, basename: str, fill: Fill) -> Entry | None:
        path = self.directory / FILES / f"c{self._next_serial}-{_short(basename)}"
        self._next_serial += 1
        reserved = 0

        def admit(size: int | None) -> bool:
            nonlocal reserved
            if size is None:
                return True
            if not self._reserve(size):
                return False
            reserved = size
            return True

        try:
            size = await fill(path, admit)
            self._reserved -= reserved
            reserved = 0
            if size is None or not self._reserve(size):
                path.unlink(missing_ok=True)
                return None
            self._reserved -= size
            os.chmod(path, 0o444)
            entry = Entry(key=key, path=path, size=size, mtime_ns=os.stat(path).st_mtime_ns)
            self._entries[key] = entry
            self._save()
            return entry
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            self._reserved -= reserved

    # -- space --------------------------------------------------------------

    def _reserve(self, size: int) -> bool:
        """Claim ``size`` bytes, evicting unreferenced entries oldest first; False if impossible."""
        missing = self.used + size - self.capacity
        if missing > 0:
            victims = []
            for entry in self._entries.values():
                if missing <= 0:
                    break
                if entry.refs == 0:
                    victims.append(entry)
                    missing -= entry.size
            if missing > 0:
                return False
            for entry in victims:
                self._drop(entry)
            self._save()
        self._reserved += size
        return True

    def _check(self, entry: Entry) -> bool:
        """Whether an entry's file is intact; a damaged one is dropped (and re-downloaded)."""
        if self._intact(entry):
            return True
        log.warning("fetcher cache file %s is missing or changed; fetching again", entry.path)
        self._drop(entry)
        self._save()
        return False

    @staticmethod
    def _intact(entry: Entry) -> bool:
        try:
            status = os.stat(entry.path)
        except OSError:
            return False
        return status.st_size == entry.size and status.st_mtime_ns == entry.mtime_ns

    def _drop(self, entry: Entry) -> None:
        del self._entries[entry.key]
        entry.path.unlink(missing_ok=True)

    def _save(self) -> None:
        records = [
            {
                "user": entry.key.user,
                "uri": entry.key.uri,
                "file": entry.path.name,
                "size": entry.size,
                "mtime_ns": entry.mtime_ns,
            }
            for entry in self._entries.values()
        ]
        data = {"version": _INDEX_VERSION, "next_serial": self._next_serial, "entries": records}
        temporary = self.directory / f".{INDEX}.tmp"
        temporary.write_text(json.dumps(data, indent=1))
        os.replace(temporary, self.directory / INDEX)

    async def close(self) -> None:
        """Abandon downloads in progress (their partial files are removed)."""
        for task in list(self._filling.values()):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._filling.values(), return_exceptions=True)


def _short(basename: str) -> str:
    """Mesos's cache file name part: the basename, shortened to 21 characters, made safe."""
    name = _UNSAFE.sub("_", basename) or "file"
    return name if len(name) <= 20 else f"{name[:10]}_{name[-10:]}"
