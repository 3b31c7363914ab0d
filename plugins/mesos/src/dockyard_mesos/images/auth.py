"""Registry authentication: credentials from ``--docker_config`` (parsed by the docker SDK,
every format the Docker CLI writes) and the two challenges of the Registry API: ``Basic``,
and ``Bearer`` with a token from the ``realm`` the challenge names (Docker Hub's flow).

Tokens are kept per scope until shortly before they expire; credentials are never logged,
stored or put into an error message.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from docker import auth as docker_auth
from docker.errors import DockerException

from dockyard_mesos.images.errors import ImageError, RegistryUnavailable, Unauthorized
from dockyard_mesos.images.reference import Reference

_PARAMETER = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
TOKEN_LIFETIME = 60.0
"""Seconds a token is assumed valid when the token server does not say (the spec's default)."""
TOKEN_MARGIN = 5.0
MAX_TOKEN_RESPONSE = 1 << 20


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` header: its scheme and parameters."""

    scheme: str
    parameters: Mapping[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        parameters = {
            match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
            for match in _PARAMETER.finditer(rest)
        }
        return cls(scheme.lower(), parameters)


class Credentials:
    """Username and password per registry, from a Docker client config (``auths``,
    legacy ``.dockercfg``, ``credHelpers``/``credsStore``)."""

    def __init__(self, docker_config: Mapping[str, Any] | None) -> None:
        self._config: docker_auth.AuthConfig | None = None
        if docker_config:
            self._config = docker_auth.load_config(config_dict=copy.deepcopy(dict(docker_config)))

    def basic(self, reference: Reference) -> str | None:
        """The ``Basic`` credential for the image's registry, or None: anonymous."""
        if self._config is None:
            return None
        try:
            found = self._config.resolve_authconfig(reference.registry.credentials_key)
        except DockerException as error:
            raise ImageError(
                f"Failed to read registry credentials for image '{reference}': {error}"
            ) from None
        if not found:
            return None
        username, password = found.get("username"), found.get("password")
        if not username or password is None:
            return None
        return base64.b64encode(f"{username}:{password}".encode()).decode()


class Authenticator:
    """The ``Authorization`` header for each request to a registry, answering challenges."""

    def __init__(self, session: aiohttp.ClientSession, credentials: Credentials) -> None:
        self._session = session
        self._credentials = credentials
        self._headers: dict[tuple[str, str], tuple[str, float]] = {}
        """(registry, repository) -> (Authorization value, monotonic expiry)."""

    def header(self, reference: Reference) -> dict[str, str]:
        """What to send before any challenge: what the last challenge earned, if still good."""
        key = (reference.registry.host, reference.repository)
        found = self._headers.get(key)
        if found is None or found[1] <= time.monotonic():
            return {}
        return {"Authorization": found[0]}

    async def answer(self, reference: Reference, challenge_header: str | None) -> dict[str, str]:
        """The header that answers a 401's challenge; :class:`Unauthorized` if none can."""
        if challenge_header is None:
            raise Unauthorized(
                f"Failed to pull image '{reference}': the registry refused access (401) "
                "without saying how to authenticate"
            )
        challenge = Challenge.parse(challenge_header)
        basic = self._credentials.basic(reference)
        key = (reference.registry.host, reference.repository)
        if challenge.scheme == "basic":
            if basic is None:
                raise Unauthorized(
                    f"Failed to pull image '{reference}': the registry requires credentials "
                    "and --docker_config has none for it"
                )
            value, expiry = f"Basic {basic}", float("inf")
        elif challenge.scheme == "bearer":
            value, expiry = await self._token(reference, challenge, basic)
        else:
            raise Unauthorized(
                f"Failed to pull image '{reference}': unsupported authentication scheme "
                f"'{challenge.scheme}'"
            )
        self._headers[key] = (value, expiry)
        return {"Authorization": value}

    def forget(self, reference: Reference) -> None:
        self._headers.pop((reference.registry.host, reference.repository), None)

    async def _token(
        self, reference: Reference, challenge: Challenge, basic: str | None
    ) -> tuple[str, float]:
        realm = challenge.parameters.get("realm")
        if not realm or not realm.startswith(("https://", "http://")):
            raise Unauthorized(
                f"Failed to pull image '{reference}': the registry's token challenge has no "
                "usable realm"
            )
        params = {"scope": f"repository:{reference.repository}:pull"}
        if "service" in challenge.parameters:
            params["service"] = challenge.parameters["service"]
        headers = {"Authorization": f"Basic {basic}"} if basic else {}
        try:
            async with self._session.get(realm, params=params, headers=headers) as response:
                if response.status in (401, 403):
                    raise Unauthorized(
                        f"Failed to pull image '{reference}': the token server refused the "
                        f"credentials ({response.status})"
                    )
                if response.status != 200:
                    raise RegistryUnavailable(
                        f"Failed to pull image '{reference}': the token server answered "
                        f"{response.status}"
                    )
                body = await response.content.read(MAX_TOKEN_RESPONSE)
        except aiohttp.ClientError as error:
            raise RegistryUnavailable(
                f"Failed to pull image '{reference}': cannot reach the token server: {error}"
            ) from None
        try:
            document = json.loads(body)
            token = document.get("token") or document.get("access_token")
            lifetime = float(document.get("expires_in") or TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise Unauthorized(
                f"Failed to pull image '{reference}': the token server's answer has no token"
            )
        return f"Bearer {token}", time.monotonic() + max(lifetime - TOKEN_MARGIN, 1.0)
