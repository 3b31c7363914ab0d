"""Which fetcher fetches which URI: routing by RFC 3986 scheme, and co-operation.

Each fetcher plugin names the schemes it fetches (the ``fetch_schemes`` hook). A URI
goes to the fetchers that name its scheme, in name order, then to the catch-alls
(``"*"``), in name order; the first one fetches it, and one that declines (``fetch``
returns None) passes it on to the next. A command's URIs are cut into runs of
consecutive URIs bound for the same fetcher; the runs go one after the other, in the
order given, so that of two URIs landing on the same path the later wins whoever
fetches them, and each fetcher fetches the URIs of one run concurrently.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Collection, Sequence
from dataclasses import dataclass, field
from inspect import isawaitable

from dockyard.containers import ContainerConfig, LaunchError
from dockyard.host import PluginHost
from dockyard.messages import URI

log = logging.getLogger(__name__)

PLAIN_PATH = ""
"""The scheme of a plain path: ``/abs/path``, or ``rel/path`` with ``--frameworks_home``."""
ANY_SCHEME = "*"
"""Claims every scheme that no fetcher names explicitly."""

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
"""RFC 3986 section 3.1: ``ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`` then ``:``."""
_NAME = re.compile(r"[a-z][a-z0-9+.-]+")


def uri_scheme(value: str) -> str:
    """The lower-case scheme of a ``CommandInfo.URI`` value, or "" for a plain path.

    Leading whitespace is ignored, as Mesos does. A single letter before the colon is a
    Windows drive (``C:/x``), not a scheme: such a value stays a plain relative path, as
    in Mesos. ``host:path`` has the scheme ``host`` (RFC 3986); a relative path whose
    first segment holds a colon is written ``./name:x``.
    """
    match = _SCHEME.match(value.lstrip())
    if match is None or len(match[1]) == 1:
        return PLAIN_PATH
    return match[1].lower()


def _checked_schemes(name: str, schemes: Collection[str]) -> frozenset[str]:
    """Lower-cased, ``data:`` read as ``data``, and invalid names dropped with a warning."""
    if isinstance(schemes, str):  # "data" for ("data",): never a set of letters
        schemes = (schemes,)
    checked = set()
    for scheme in schemes:
        normal = scheme.lower().removesuffix(":") if isinstance(scheme, str) else None
        if normal is not None and (normal in (PLAIN_PATH, ANY_SCHEME) or _NAME.fullmatch(normal)):
            checked.add(normal)
        else:
            log.warning("fetcher '%s' names an invalid URI scheme %r; ignored", name, scheme)
    return frozenset(checked)


def describe_scheme(scheme: str) -> str:
    return "plain paths" if scheme == PLAIN_PATH else f"{scheme}:"


@dataclass(frozen=True)
class FetcherClaim:
    """The schemes one fetcher plugin takes."""

    name: str
    schemes: frozenset[str]

    @property
    def catch_all(self) -> bool:
        return ANY_SCHEME in self.schemes


@dataclass
class _Pending:
    uri: URI
    candidates: list[str]
    declined_by: list[str] = field(default_factory=list)


class FetchRouter:
    """The routing table of the enabled fetchers, and the fetch of one command's URIs."""

    def __init__(self, host: PluginHost, claims: Sequence[FetcherClaim]) -> None:
        self.host = host
        self.claims = sorted(claims, key=lambda claim: claim.name)
        self._warn_about_shared_schemes()

    @classmethod
    def from_host(cls, host: PluginHost, fetchers: Collection[str]) -> FetchRouter:
        """Ask each started fetcher with a ``fetch`` hook for its schemes (a fetcher
        without ``fetch_schemes`` is a catch-all, as every fetcher was before it existed)."""
        claims = []
        for name in fetchers:
            if not host.implements(name, "fetch"):
                continue  # e.g. a scheme handler of dockyard-fetcher: inert in the core
            try:
                schemes = host.fetch_schemes(name)
            except Exception:
                log.exception("fetcher '%s' failed to name its schemes; it fetches nothing", name)
                continue
            claims.append(FetcherClaim(name, _checked_schemes(name, schemes)))
        return cls(host, claims)

    def candidates(self, scheme: str) -> list[str]:
        """The fetchers that may fetch a URI of ``scheme``, in the order they are asked."""
        named = [claim.name for claim in self.claims if scheme in claim.schemes]
        catch_alls = [claim.name for claim in self.claims if claim.catch_all]
        return list(dict.fromkeys(named + catch_alls))

    def available(self) -> str:
        """What the enabled fetchers take, for error messages."""
        schemes = sorted({s for claim in self.claims for s in claim.schemes} - {ANY_SCHEME})
        described = [describe_scheme(scheme) for scheme in schemes]
        described += [f"any other scheme (fetcher '{c.name}')" for c in self.claims if c.catch_all]
        return ", ".join(described) or "nothing"

    async def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        """Fetch every URI through the fetcher it routes to; raise LaunchError on failure.

        Every URI is routed before anything is fetched, so an unclaimed one fails the
        launch at once.
        """
        pending = [_Pending(uri, self.candidates(uri_scheme(uri.value))) for uri in uris]
        for item in pending:
            if not item.candidates:
                raise LaunchError(self._unclaimed(item.uri))
        start = 0
        while start < len(pending):
            name = pending[start].candidates[0]
            end = start + 1
            while end < len(pending) and pending[end].candidates[0] == name:
                end += 1
            run = pending[start:end]
            if await self._fetch_run(name, config, [item.uri for item in run]):
                start = end
                continue
            for item in run:  # declined: each URI goes on to its next fetcher
                item.declined_by.append(item.candidates.pop(0))
                if not item.candidates:
                    raise LaunchError(
                        f"Failed to fetch '{item.uri.value}': every fetcher that takes "
                        f"{describe_scheme(uri_scheme(item.uri.value))} declined it "
                        f"({', '.join(item.declined_by)})"
                    )

    async def _fetch_run(self, name: str, config: ContainerConfig, uris: Sequence[URI]) -> bool:
        """Let one fetcher fetch ``uris``; False if it declines them."""
        first = uris[0].value
        try:
            job: Awaitable[None] | None = self.host.fetch(name, config, uris)
            if job is None:
                return False
            if not isawaitable(job):
                raise TypeError(f"fetch returned {job!r}, not an awaitable or None")
            await job
        except LaunchError:
            raise
        except Exception as error:  # a plugin bug: fail this launch, keep the agent
            log.exception("fetcher '%s' failed on %s", name, first)
            raise LaunchError(
                f"Failed to fetch '{first}': fetcher '{name}' failed: "
                f"{type(error).__name__}: {error}"
            ) from error
        return True

    def _unclaimed(self, uri: URI) -> str:
        if not self.claims:
            return (
                f"Failed to fetch '{uri.value}': no fetcher plugin is installed "
                "(install dockyard-fetcher)"
            )
        scheme = uri_scheme(uri.value)
        what = "plain paths" if scheme == PLAIN_PATH else f"the URI scheme '{scheme}:'"
        hint = ""
        if scheme != PLAIN_PATH and not uri.value.lstrip()[len(scheme) + 1 :].startswith("//"):
            hint = "; a relative path with ':' in its first segment is written './name:...'"
        return (
            f"Failed to fetch '{uri.value}': no fetcher takes {what} "
            f"(the fetchers take {self.available()}){hint}"
        )

    def _warn_about_shared_schemes(self) -> None:
        owners: dict[str, str] = {}
        for claim in self.claims:
            for scheme in sorted(claim.schemes - {ANY_SCHEME}):
                if scheme in owners:
                    log.warning(
                        "fetchers '%s' and '%s' both take %s; '%s' is asked first",
                        owners[scheme],
                        claim.name,
                        describe_scheme(scheme),
                        owners[scheme],
                    )
                else:
                    owners[scheme] = claim.name
