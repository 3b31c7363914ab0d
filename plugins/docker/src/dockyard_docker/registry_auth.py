"""Registry credentials for a pull, found as Mesos finds them (``mesos-behaviour.md`` §3.6).

Mesos runs ``docker pull`` with HOME set to the sandbox, so a ``.docker/config.json`` or
``.dockercfg`` fetched into the sandbox wins; otherwise ``--docker_config`` is used. The
docker SDK's auth module parses every format (``auths``, legacy ``.dockercfg``,
``credHelpers``, ``credsStore``). Credentials are returned, never logged or stored.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from docker import auth
from docker.errors import DockerException
from dockyard import beneath

SANDBOX_CONFIGS = (Path(".docker") / "config.json", Path(".dockercfg"))


class CredentialsError(Exception):
    """The credentials could not be read; the message never holds a secret."""


def credentials_for(repository: str, sandbox: Path, flag_config: Any) -> dict[str, Any] | None:
    """The X-Registry-Auth data for ``repository``, or None to pull anonymously."""
    registry, _ = auth.resolve_repository_name(repository)
    try:
        config = _load(sandbox, flag_config)
        found = config.resolve_authconfig(registry) if config is not None else None
    except DockerException as error:
        raise CredentialsError(f"Failed to read registry credentials: {error}") from None
    return dict(found) if found else None


def fingerprint(credentials: dict[str, Any] | None) -> str:
    """Tells pulls with different credentials apart without keeping the secret around."""
    if credentials is None:
        return ""
    return hashlib.sha256(json.dumps(credentials, sort_keys=True).encode()).hexdigest()


def _load(sandbox: Path, flag_config: Any) -> auth.AuthConfig | None:
    for relative in SANDBOX_CONFIGS:
        found = _sandbox_config(sandbox, relative)
        if found is not None:
            with beneath.closing(found):
                return auth.load_config(config_path=f"/proc/self/fd/{found}")
    if isinstance(flag_config, dict) and flag_config:
        return auth.load_config(config_dict=copy.deepcopy(flag_config))
    return None


def _sandbox_config(sandbox: Path, relative: Path) -> int | None:
    """A descriptor of the sandbox's config file, reached without following links: a link
    planted there must not lend the pull someone else's credentials (say, root's)."""
    try:
        with beneath.closing(beneath.open_root(sandbox)) as directory:
            return beneath.open_regular(directory, str(relative), os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except beneath.Refused as error:
        raise CredentialsError(
            f"Failed to read registry credentials: '{error.filename}' {error.strerror}"
        ) from None
