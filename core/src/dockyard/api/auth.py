"""HTTP basic authentication of operators, per Mesos's two flags.

``--authenticate_http_readwrite`` covers every ``/api/v1`` call, reads included: Mesos
puts the whole v1 operator API in its read-write realm. ``--authenticate_http_readonly``
covers what Mesos's read-only realm covers (``/state``, ``/flags``, ``/containers``,
``/files/*``, ``/metrics/snapshot``), whichever endpoint serves it here: the calls in
:data:`READ_CALLS`, ``/files/*`` and ``/metrics*``. ``GET_HEALTH`` and ``GET_VERSION``
stay as open as Mesos's ``/health`` and ``/version`` unless readwrite is on. The
executor API (``/api/v1/executor``) is not covered by either flag, as in Mesos.

Credentials are compared as bytes (UTF-8), in constant time whatever their length or
content, and every credential is compared, so timing tells nothing about which part
of which one was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from dockyard.api.keys import FLAGS
from dockyard.containers import StartupError
from dockyard.flags import Flags
from dockyard.messages import CallType

REALM = 'Basic realm="dockyard"'

READ_CALLS = frozenset(
    {
        CallType.GET_FLAGS,
        CallType.GET_STATE,
        CallType.GET_TASKS,
        CallType.GET_CONTAINERS,
        CallType.WAIT_CONTAINER,
        CallType.SUBSCRIBE,
        CallType.GET_PLUGINS,
    }
)
"""Calls that read the agent's state, each the counterpart of a Mesos read-only endpoint."""

READ_ONLY_ROUTES = (
    "/files/browse",
    "/files/read",
    "/files/download",
    "/metrics",
    "/metrics/snapshot",
)
OPERATOR_ROUTE = "/api/v1"


@dataclass(frozen=True)
class Credential:
    principal: bytes
    secret: bytes


CREDENTIALS = web.AppKey("credentials", tuple[Credential, ...])
_AUTHENTICATED = "dockyard.authenticated"


def credentials_from_flags(flags: Flags) -> tuple[Credential, ...]:
    """``--http_credentials``, checked at start-up: a bad value is a StartupError."""
    credentials = _parse_credentials(flags.http_credentials)
    for name in ("authenticate_http_readonly", "authenticate_http_readwrite"):
        if flags[name] and not credentials:
            raise StartupError(f"--{name} needs --http_credentials with at least one credential")
    return credentials


def _parse_credentials(value: object) -> tuple[Credential, ...]:
    if value is None:
        return ()
    entries = value.get("credentials") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        raise StartupError('--http_credentials must be {"credentials": [{"principal", "secret"}]}')
    return tuple(_credential(index, entry) for index, entry in enumerate(entries))


def _credential(index: int, entry: object) -> Credential:
    principal, secret = (entry.get(key) if isinstance(entry, dict) else None for key in _FIELDS)
    try:
        if isinstance(principal, str) and isinstance(secret, str):
            return Credential(principal.encode(), secret.encode())
    except UnicodeEncodeError:
        pass
    raise StartupError(
        f"--http_credentials: credentials[{index}] needs a 'principal' and a 'secret', "
        "both strings of valid Unicode"
    )


_FIELDS = ("principal", "secret")


def _same(given: bytes, expected: bytes) -> bool:
    """Constant-time equality, also across lengths (both sides are hashed first)."""
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())


def _basic_credentials(header: str) -> tuple[bytes, bytes] | None:
    """``(principal, secret)`` of an ``Authorization: Basic`` header, or None."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True)
    except ValueError:  # not ASCII, or not base64 (binascii.Error)
        return None
    principal, colon, secret = decoded.partition(b":")
    return (principal, secret) if colon else None


def authenticated(request: web.Request) -> bool:
    """Whether the request carries one of the credentials (decided once per request)."""
    if _AUTHENTICATED not in request:
        given = _basic_credentials(request.headers.get(hdrs.AUTHORIZATION, ""))
        matched = False
        if given is not None:
            for credential in request.app[CREDENTIALS]:
                matched |= _same(given[0], credential.principal) & _same(
                    given[1], credential.secret
                )
        request[_AUTHENTICATED] = matched
    return bool(request[_AUTHENTICATED])


def unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="Unauthorized: this call needs HTTP basic authentication with --http_credentials",
        headers={hdrs.WWW_AUTHENTICATE: REALM},
    )


def call_needs_credentials(flags: Flags, call_type: CallType) -> bool:
    return bool(
        flags.authenticate_http_readwrite
        or (flags.authenticate_http_readonly and call_type in READ_CALLS)
    )


def _route_needs_credentials(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else ""
    flags = request.app[FLAGS]
    if route == OPERATOR_ROUTE:
        return bool(flags.authenticate_http_readwrite)
    return route in READ_ONLY_ROUTES and bool(flags.authenticate_http_readonly)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 401 before reading the body when the whole endpoint needs credentials."""
    if _route_needs_credentials(request) and not authenticated(request):
        return unauthorized()
    return await handler(request)
