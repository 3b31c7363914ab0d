"""The scheme extension point: how a URI's bytes are obtained.

A scheme handler is any object with the :class:`SchemeHandler` shape, registered as an entry
point in the ``dockyard.fetchers`` group (the group of the fetcher plugin itself). The
fetcher plugin loads every entry point of the group and keeps the objects that look like
handlers; the core registers them with pluggy too, where they are inert (no hooks), and
``dockyard plugins`` lists them. Handlers only produce bytes: the fetcher does everything
else (stall timeout, partial files, cache, extraction, permissions, progress).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dockyard.fetch_routing import ANY_SCHEME as CORE_ANY_SCHEME

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.identity import Identity
from dockyard_fetcher.uris import LOCAL, Location

log = logging.getLogger(__name__)

ANY_SCHEME = CORE_ANY_SCHEME
"""A handler claiming this serves every scheme that no other handler claims (fsspec)."""


@dataclass(frozen=True)
class SourceRequest:
    """What a handler is asked to open."""

    location: Location
    identity: Identity | None
    """Read local data with this user's permissions (None: as the agent)."""


@dataclass
class Download:
    """An open source: its announced size (None if unknown) and its bytes in order."""

    size: int | None
    chunks: AsyncIterator[bytes]


@runtime_checkable
class SchemeHandler(Protocol):
    """Produces the bytes of URIs of some schemes; see ``docs/fetcher.md``.

    ``open`` must raise :class:`dockyard_fetcher.FetchError` with a readable reason for any
    failure it can explain (missing file, HTTP status). It need not time out: the fetcher
    aborts a download that delivers nothing for ``--fetcher_stall_timeout``.
    """

    @property
    def schemes(self) -> Collection[str]:
        """Lower-case schemes served, "" for local paths, or ``"*"`` for any unclaimed scheme."""
        ...

    def open(self, request: SourceRequest) -> AbstractAsyncContextManager[Download]:
        """Open the source; leaving the context releases it (connection, file, process)."""
        ...

    async def close(self) -> None:
        """Release shared resources (connection pools) when the fetcher stops."""
        ...


def unhandled(scheme: str, served: str = "") -> str:
    """Why a URI of ``scheme`` cannot be fetched; ``served`` lists what can."""
    takes = f"dockyard-fetcher takes {served}; " if served else ""
    return (
        f"no fetcher handles the URI scheme '{scheme}:' ({takes}install a package that adds "
        "it, e.g. dockyard-fetcher[fsspec] with the scheme's fsspec backend)"
    )


class SchemeRegistry:
    """Chooses the handler of a scheme: an explicit claim first, then a catch-all."""

    def __init__(self, handlers: Iterable[SchemeHandler]) -> None:
        self.handlers = list(handlers)
        self._by_scheme: dict[str, SchemeHandler] = {}
        self._fallbacks: list[SchemeHandler] = []
        for handler in self.handlers:
            for scheme in handler.schemes:
                if scheme == ANY_SCHEME:
                    self._fallbacks.append(handler)
                elif scheme in self._by_scheme:
                    log.warning(
                        "scheme '%s' is claimed by %r and %r; using the first",
                        scheme,
                        self._by_scheme[scheme],
                        handler,
                    )
                else:
                    self._by_scheme[scheme] = handler

    def claims(self) -> frozenset[str]:
        """What the fetcher plugin tells the core it fetches (``fetch_schemes``)."""
        claimed = set(self._by_scheme)
        if LOCAL in claimed:
            claimed.add("file")  # file: URIs are local paths
        if self._fallbacks:
            claimed.add(ANY_SCHEME)
        return frozenset(claimed)

    def handler_for(self, scheme: str) -> SchemeHandler:
        """The handler of ``scheme``; a catch-all with a ``knows(scheme)`` method is used
        only for the schemes it knows, so an unknown one fails before any download."""
        handler = self._by_scheme.get(scheme)
        if handler is not None:
            return handler
        for fallback in self._fallbacks:
            knows = getattr(fallback, "knows", None)
            if knows is None or knows(scheme):
                return fallback
        raise FetchError(unhandled(scheme, self.describe()))

    def describe(self) -> str:
        """What the handlers serve, for messages: ``plain paths, file:, http:, https:``."""
        claims = self.claims()
        served = ["plain paths"] if LOCAL in claims else []
        served += [f"{scheme}:" for scheme in sorted(claims - {ANY_SCHEME, LOCAL})]
        if self._fallbacks:
            served.append("the protocols of fsspec's backends")
        return ", ".join(served)

    async def close(self) -> None:
        for handler in self.handlers:
            await handler.close()
