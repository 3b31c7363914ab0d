"""HTTP basic authentication of write calls (Mesos's ``--authenticate_http_readwrite``)."""

from __future__ import annotations

import hmac

from aiohttp import BasicAuth, hdrs, web

from dockyard.api.keys import FLAGS

REALM = 'Basic realm="dockyard"'


def credentials_match(given: BasicAuth, credentials: object) -> bool:
    """Compare against ``--http_credentials`` (``{"credentials": [{principal, secret}]}``)."""
    if not isinstance(credentials, dict):
        return False
    for entry in credentials.get("credentials", []):
        principal = str(entry.get("principal", ""))
        secret = str(entry.get("secret", ""))
        if hmac.compare_digest(principal, given.login) and hmac.compare_digest(
            secret, given.password
        ):
            return True
    return False


def require_write_access(request: web.Request) -> web.Response | None:
    """None when the request may write, else the 401 response to send."""
    flags = request.app[FLAGS]
    if not flags.authenticate_http_readwrite:
        return None
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    try:
        given = BasicAuth.decode(header)
    except ValueError:
        given = None
    if given is not None and credentials_match(given, flags.http_credentials):
        return None
    return web.Response(status=401, text="Unauthorized", headers={hdrs.WWW_AUTHENTICATE: REALM})
