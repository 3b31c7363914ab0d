"""The store's records on disk, each written whole or not at all (:mod:`dockyard.checkpoint`):
``images.json`` maps references to manifests, layers and configs; ``holds/<container>.json``
says which layers a container's root file system uses. One file per hold, so a damaged file
costs one hold, and it then stops garbage collection rather than let it guess."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import checkpoint

from dockyard_mesos.images.model import ImageConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredImage:
    digest: str
    layers: tuple[str, ...]
    """Layer digests, base first."""
    config: ImageConfig
    used: float
    """Wall-clock time it was last handed out (GC takes the oldest first)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "layers": list(self.layers),
            "config": self.config.to_json(),
            "used": self.used,
        }

    @classmethod
    def from_json(cls, value: Any) -> StoredImage:
        layers = value["layers"]
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ValueError("layers is not a list of digests")
        return cls(
            digest=str(value["digest"]),
            layers=tuple(layers),
            config=ImageConfig.from_json({"config": value["config"]}),
            used=float(value.get("used", 0.0)),
        )


def load_images(path: Path, quarantine: Path) -> dict[str, StoredImage]:
    """The index; a damaged one is moved aside (its images are pulled again when asked)."""
    try:
        document = checkpoint.read_json(path)
        return {ref: StoredImage.from_json(value) for ref, value in document["images"].items()}
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        aside = quarantine / f"{int(time.time())}-{path.name}"
        quarantine.mkdir(mode=0o700, exist_ok=True)
        path.rename(aside)
        log.warning("image store index %s is damaged (%s): moved to %s", path, error, aside)
        return {}


def save_images(path: Path, images: dict[str, StoredImage]) -> None:
    checkpoint.write_json(path, {"images": {ref: i.to_json() for ref, i in images.items()}})


def hold_path(holds: Path, container_id: str) -> Path:
    if "/" in container_id or container_id in ("", ".", "..") or "\0" in container_id:
        raise ValueError(f"'{container_id}' is not a valid container id")
    return holds / f"{container_id}.json"


@dataclass(frozen=True)
class Hold:
    reference: str
    layers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "layers": list(self.layers)}


def save_hold(path: Path, hold: Hold) -> None:
    checkpoint.write_json(path, hold.to_json())


def load_holds(holds: Path) -> tuple[dict[str, Hold], list[Path]]:
    """Each container's hold, and the hold files that could not be read."""
    found: dict[str, Hold] = {}
    damaged: list[Path] = []
    checkpoint.discard_partial_writes(holds)
    for path in sorted(holds.glob("*.json")):
        try:
            document = json.loads(path.read_bytes())
            layers, reference = document["layers"], document["reference"]
            if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
                raise ValueError("layers is not a list of digests")
            if not isinstance(reference, str):
                raise ValueError("reference is not a string")
        except (ValueError, KeyError, TypeError, OSError) as error:
            log.warning("image hold %s is damaged (%s): garbage collection is off", path, error)
            damaged.append(path)
            continue
        found[path.name.removesuffix(".json")] = Hold(reference, tuple(layers))
    return found, damaged
