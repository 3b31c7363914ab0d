"""Refuse what a web browser sends for another site (CSRF) or for a hostile domain that
resolves to the agent (DNS rebinding); clients that are not browsers are not affected.

Two checks run before authentication, on every route:

- The Host header must name the agent: an IP literal, ``localhost``, ``--hostname``, the
  machine's host name or FQDN, ``--ip``, or a name in ``--http_allowed_hosts`` (``*``: any).
  A rebinding page can only send its own domain as Host, whatever address it resolves to.
- A browser's cross-origin request is refused: ``Sec-Fetch-Site`` other than
  ``same-origin`` or ``none`` (``same-site`` too: a site ignores ports, so every other web
  server on 127.0.0.1 is "same-site"), or an ``Origin`` other than the request's own
  ``scheme://Host`` (the scheme as a TLS-terminating proxy's ``X-Forwarded-Proto`` says).
  Content types are not checked: a CORS-simple body (``text/plain``, a form) is what
  ``curl -d`` sends, and Mesos accepts it too.

The one exception is a top-level navigation (a link or a typed address) to the web UI's
page ``/``: the page holds no state, and what it then calls is same-origin.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from yarl import URL

from dockyard.containers import StartupError
from dockyard.flags import Flags

ANY_HOST = "*"
FORWARDED_SCHEMES = frozenset({"http", "https"})
SAME_ORIGIN_SITES = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of a request the page's own origin or the user started."""

_HOST = re.compile(r"(?P<host>\[[0-9A-Za-z:.%_~-]+\]|[^\[\]:@/?#\s]+)(?::(?P<port>[0-9]{1,5}))?")
_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")


@dataclass(frozen=True)
class AllowedHosts:
    """The names a Host header may carry besides IP literals (lower case, no final dot)."""

    names: frozenset[str]
    any: bool = False

    def allows(self, host: str) -> bool:
        return self.any or _is_ip_literal(host) or _plain_name(host) in self.names


ALLOWED_HOSTS = web.AppKey("allowed_hosts", AllowedHosts)


def allowed_hosts_from_flags(flags: Flags) -> AllowedHosts:
    """``--http_allowed_hosts`` and the agent's own names, checked at start-up."""
    listed: list[str] = list(flags.http_allowed_hosts or ())
    for name in listed:
        if name != ANY_HOST and not _NAME.fullmatch(name):
            raise StartupError(
                f"--http_allowed_hosts: {name!a} is not a host name (or '*' for any host)"
            )
    own = ["localhost", flags.hostname, flags.ip, socket.gethostname(), socket.getfqdn()]
    names = frozenset(_plain_name(name) for name in [*listed, *own] if name)
    return AllowedHosts(names, any=ANY_HOST in listed)


def _plain_name(name: str) -> str:
    return name.lower().removesuffix(".")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


def _split_host(header: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a Host header, or None if it is not ``host[:port]``."""
    match = _HOST.fullmatch(header.strip())
    if match is None:
        return None
    port = match["port"]
    return match["host"].removeprefix("[").removesuffix("]"), int(port) if port else None


def _host_refusal(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.HOST)
    if header is None:  # HTTP/1.0 without Host: no browser sends that
        return None
    split = _split_host(header)
    if split is None:
        return f"Forbidden: the Host header {header!a} is not host[:port]"
    if request.app[ALLOWED_HOSTS].allows(split[0]):
        return None
    return (
        f"Forbidden: the Host {split[0]!a} is not one of the agent's names (IP addresses, "
        "localhost, --hostname and the machine's name are); to reach the agent by this "
        "name, add it to --http_allowed_hosts (this check stops DNS rebinding)"
    )


def _scheme(request: web.Request) -> str:
    """The scheme the browser used: a TLS-terminating proxy says it in ``X-Forwarded-Proto``
    (or ``Forwarded: proto=``). Trusting it cannot let another site in: it only changes the
    scheme of the agent's own origin (the Host stays what is compared), and a page cannot
    add such a header to a cross-site request without a preflight the guard refuses."""
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    if not forwarded and request.forwarded:
        forwarded = request.forwarded[0].get("proto") or ""
    proto = forwarded.split(",")[0].strip().lower()
    return proto if proto in FORWARDED_SCHEMES else request.scheme


def _same_origin(origin: str, request: web.Request) -> bool:
    split = _split_host(request.headers.get(hdrs.HOST, ""))
    try:
        url = URL(origin)
        own = URL.build(scheme=_scheme(request), host=split[0], port=split[1]) if split else None
    except (ValueError, TypeError):
        return False
    if own is None or url.host is None or url.raw_user is not None:
        return False
    if url.path not in ("", "/") or url.query_string or url.fragment:
        return False
    return (url.scheme.lower(), url.host.lower(), url.port) == (
        own.scheme,
        own.host.lower() if own.host else None,
        own.port,
    )


def _is_ui_navigation(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_GET
        and request.path == "/"
        and request.headers.get("Sec-Fetch-Mode") == "navigate"
        and request.headers.get("Sec-Fetch-Dest") == "document"
    )


def _origin_refusal(request: web.Request) -> str | None:
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and not _same_origin(origin, request):
        sender = f"Origin {origin!a}"
    elif site is not None and site not in SAME_ORIGIN_SITES:
        sender = f"Sec-Fetch-Site {site!a}"
    else:
        return None
    if _is_ui_navigation(request) and origin is None:
        return None
    return (
        f"Forbidden: a web browser sent this request from another site ({sender}); the "
        "agent's API answers only its own pages and clients that are not browsers"
    )


@web.middleware
async def refuse_foreign_browsers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 before authentication and before the body is read."""
    refusal = _host_refusal(request) or _origin_refusal(request)
    if refusal is not None:
        return web.Response(status=403, text=refusal)
    return await handler(request)
