"""Image references as Docker and Mesos read them, and the registry each one lives in.

``busybox`` is ``library/busybox:latest`` on ``--docker_registry`` (Docker Hub by default);
``127.0.0.1:5000/app:v1`` names its registry; ``app@sha256:...`` pins a manifest. A
registry is spoken to over https, or plain http when it is on loopback: credentials and
layers never cross a network unencrypted.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DOCKER_HUB = "registry-1.docker.io"
DEFAULT_REGISTRY = f"https://{DOCKER_HUB}"
DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", DOCKER_HUB})
"""Host names that mean Docker Hub, whose one-part names live under ``library/``."""

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class ReferenceError(ValueError):
    """An image name or registry that cannot be used; ``str()`` says which and why."""


@dataclass(frozen=True)
class Registry:
    """Where a registry's API is: ``scheme://host[:port]``."""

    scheme: str
    host: str
    """``host[:port]`` as written in references (Docker Hub's API host for Docker Hub)."""

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def is_docker_hub(self) -> bool:
        return self.host in DOCKER_HUB_NAMES

    @property
    def credentials_key(self) -> str:
        """The name the Docker CLI files this registry's credentials under."""
        return "docker.io" if self.is_docker_hub else self.host

    @classmethod
    def parse(cls, text: str) -> Registry:
        """``--docker_registry``: ``https://host[:port]``, ``http://`` for loopback only, or a
        bare ``host[:port]`` (https, or http on loopback)."""
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ReferenceError(f"'{text}' is not an http(s) registry URL")
            if parts.path.strip("/") or parts.query or parts.fragment:
                raise ReferenceError(f"'{text}' has a path; give only scheme://host[:port]")
            host = parts.netloc
            if not _HOST.fullmatch(host):
                raise ReferenceError(f"'{text}' has an invalid host '{host}'")
            if parts.scheme == "http" and not is_loopback(host):
                raise ReferenceError(
                    f"'{text}': plain http is only allowed for a registry on loopback "
                    "(127.0.0.0/8, ::1, localhost); use https"
                )
            return cls(parts.scheme, _api_host(host))
        if not _HOST.fullmatch(text):
            raise ReferenceError(f"'{text}' is not a registry host[:port] or URL")
        return cls.for_host(text)

    @classmethod
    def for_host(cls, host: str) -> Registry:
        return cls("http" if is_loopback(host) else "https", _api_host(host))


def _api_host(host: str) -> str:
    return DOCKER_HUB if host in DOCKER_HUB_NAMES else host


def is_loopback(host: str) -> bool:
    """Whether ``host[:port]`` is this machine: 127.0.0.0/8, ::1 or localhost."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Reference:
    """One image in one registry, by tag or by manifest digest."""

    registry: Registry
    repository: str
    """e.g. ``library/busybox``."""
    tag: str | None
    digest: str | None

    @property
    def manifest_ref(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        name = f"{self.registry.host}/{self.repository}"
        if self.digest:
            return f"{name}@{self.digest}"
        return f"{name}:{self.tag}"

    @classmethod
    def parse(cls, text: str, default_registry: Registry) -> Reference:
        """Docker's rules: a first part with ``.`` or ``:``, or ``localhost``, is a registry."""
        if not text or text != text.strip() or "://" in text:
            raise ReferenceError(f"'{text}' is not a valid image reference")
        name, _, digest = text.partition("@")
        if digest and not _DIGEST.fullmatch(digest):
            raise ReferenceError(f"'{text}': '{digest}' is not a sha256 digest")
        tag = None
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = name.rsplit(":", 1)
            if not _TAG.fullmatch(tag):
                raise ReferenceError(f"'{text}': '{tag}' is not a valid tag")
        first, _, rest = name.partition("/")
        if rest and (("." in first or ":" in first) or first == "localhost"):
            if not _HOST.fullmatch(first):
                raise ReferenceError(f"'{text}': '{first}' is not a valid registry host")
            registry, repository = Registry.for_host(first), rest
        else:
            registry, repository = default_registry, name
        components = repository.split("/")
        if not all(_COMPONENT.fullmatch(part) for part in components):
            raise ReferenceError(
                f"'{text}': '{repository}' is not a valid repository name "
                "(lowercase letters, digits and separators . _ - between them)"
            )
        if registry.is_docker_hub and len(components) == 1:
            repository = f"library/{repository}"
        if len(repository) > 255:
            raise ReferenceError(f"'{text}': the repository name is longer than 255 characters")
        return cls(registry, repository, tag or (None if digest else "latest"), digest or None)
