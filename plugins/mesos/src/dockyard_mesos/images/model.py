"""What a pulled image is: its layers, base first, and the parts of its config that decide
how a task runs in it (Mesos's ``ImageInfo``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImageConfig:
    """The ``config`` object of an image's config JSON (the OCI/Docker image spec)."""

    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    env: tuple[str, ...]
    """``KEY=value`` strings, in the image's order."""
    working_dir: str | None
    user: str | None

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ImageConfig:
        """From a whole image config document; a missing or null ``config`` is empty."""
        config = document.get("config") or {}
        if not isinstance(config, Mapping):
            raise ValueError("'config' is not an object")
        return cls(
            entrypoint=_strings(config, "Entrypoint"),
            cmd=_strings(config, "Cmd"),
            env=_strings(config, "Env") or (),
            working_dir=_string(config, "WorkingDir"),
            user=_string(config, "User"),
        )

    def to_json(self) -> dict[str, Any]:
        """The same keys as the image config, for the store's index."""
        return {
            "Entrypoint": None if self.entrypoint is None else list(self.entrypoint),
            "Cmd": None if self.cmd is None else list(self.cmd),
            "Env": list(self.env),
            "WorkingDir": self.working_dir,
            "User": self.user,
        }


def _strings(config: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"'config.{key}' is not a list of strings")
    return tuple(value)


def _string(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"'config.{key}' is not a string")
    return value


@dataclass(frozen=True)
class Image:
    """A pulled image whose layers are all in the store."""

    reference: str
    """Normalised, e.g. ``127.0.0.1:5000/busybox:latest``."""
    digest: str
    """The manifest's digest, ``sha256:...``."""
    layers: tuple[Path, ...]
    """Extracted layer directories, base layer first, in overlayfs form: a deleted file is
    a 0/0 character device, an opaque directory has ``trusted.overlay.opaque=y``."""
    config: ImageConfig
