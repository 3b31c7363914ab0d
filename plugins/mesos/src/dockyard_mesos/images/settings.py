"""The flags of the pull and store side, with Mesos's names, and their parsed form.

``--image_gc_config`` is Mesos's ``ImageGcConfig`` JSON: when the store's file system has
less than ``image_disk_headroom`` of its space free (checked every
``image_disk_watch_interval``), images no container holds are removed, except
``excluded_images``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard import flags as kinds
from dockyard.flags import FlagError, Flags, FlagSet

from dockyard_mesos.images.reference import DEFAULT_REGISTRY, Reference, ReferenceError, Registry

STORE_SUBDIR = Path("store") / "docker"
"""``--docker_store_dir``'s default, below the work_dir (Mesos: /tmp/mesos/store/docker)."""
DEFAULT_HEADROOM = 0.1
DEFAULT_WATCH_INTERVAL = timedelta(hours=1)


def declare(flags: FlagSet) -> None:
    flags.add(
        "docker_registry",
        kinds.STRING,
        default=DEFAULT_REGISTRY,
        help="Registry of images named without one (busybox is library/busybox:latest on "
        "Docker Hub): https://host[:port], or http:// for a registry on loopback only.",
    )
    flags.add(
        "docker_store_dir",
        kinds.STRING,
        default=None,
        help="Where pulled image layers are kept, shared between images and agent restarts. "
        "Default: <work_dir>/store/docker.",
    )
    flags.add(
        "image_gc_config",
        kinds.JSON,
        default=None,
        help="Automatic image garbage collection (Mesos's ImageGcConfig): {\"image_disk_"
        'headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": N}, "excluded_images": '
        '[{"type": "DOCKER", "docker": {"name": "..."}}]}. Images no container uses are '
        "removed when less than the headroom of the store's disk is free. Default: off.",
    )
    if "docker_config" not in flags:  # the docker plugin declares it too, when installed
        flags.add(
            "docker_config",
            kinds.JSON,
            default=None,
            help="Docker client config (inline JSON or file:///path) with the credentials "
            "for image pulls.",
            secret=True,
        )


@dataclass(frozen=True)
class GcConfig:
    headroom: float
    """Fraction of the store's file system to keep free."""
    watch_interval: timedelta
    excluded: frozenset[str]
    """Normalised references that are never collected."""

    @classmethod
    def parse(cls, value: Any, default_registry: Registry) -> GcConfig:
        where = "--image_gc_config"
        if not isinstance(value, Mapping):
            raise FlagError(f"{where}: expected a JSON object")
        unknown = sorted(
            set(value) - {"image_disk_headroom", "image_disk_watch_interval", "excluded_images"}
        )
        if unknown:
            raise FlagError(f"{where}: unknown field(s) {', '.join(unknown)}")
        headroom = value.get("image_disk_headroom", DEFAULT_HEADROOM)
        if (
            isinstance(headroom, bool)
            or not isinstance(headroom, int | float)
            or not (0.0 <= headroom <= 1.0)
        ):
            raise FlagError(f"{where}.image_disk_headroom: expected a number from 0 to 1")
        interval = DEFAULT_WATCH_INTERVAL
        if "image_disk_watch_interval" in value:
            nanos = value["image_disk_watch_interval"]
            nanos = nanos.get("nanoseconds") if isinstance(nanos, Mapping) else None
            if isinstance(nanos, bool) or not isinstance(nanos, int) or nanos <= 0:
                raise FlagError(
                    f'{where}.image_disk_watch_interval: expected {{"nanoseconds": N}} with N > 0'
                )
            interval = timedelta(microseconds=nanos / 1000)
        excluded = set()
        images = value.get("excluded_images", [])
        if not isinstance(images, list):
            raise FlagError(f"{where}.excluded_images: expected a list of images")
        for index, image in enumerate(images):
            field = f"{where}.excluded_images[{index}]"
            name = (image.get("docker") or {}).get("name") if isinstance(image, Mapping) else None
            if (
                not isinstance(image, Mapping)
                or image.get("type") != "DOCKER"
                or not isinstance(name, str)
            ):
                raise FlagError(
                    f'{field}: expected {{"type": "DOCKER", "docker": {{"name": ...}}}}'
                )
            try:
                excluded.add(str(Reference.parse(name, default_registry)))
            except ReferenceError as error:
                raise FlagError(f"{field}: {error}") from None
        return cls(float(headroom), interval, frozenset(excluded))


@dataclass(frozen=True)
class StoreSettings:
    store_dir: Path
    default_registry: Registry
    docker_config: Mapping[str, Any] | None
    gc: GcConfig | None

    @classmethod
    def from_flags(cls, flags: Flags, work_dir: Path) -> StoreSettings:
        """Raises :class:`FlagError` naming the flag for a bad value."""
        try:
            registry = Registry.parse(flags["docker_registry"])
        except ReferenceError as error:
            raise FlagError(f"--docker_registry: {error}") from None
        store_dir = flags["docker_store_dir"]
        if store_dir is not None and not Path(store_dir).is_absolute():
            raise FlagError(f"--docker_store_dir: '{store_dir}' is not an absolute path")
        config = flags.get("docker_config")
        if config is not None and not isinstance(config, Mapping):
            raise FlagError("--docker_config: expected a JSON object")
        gc = flags["image_gc_config"]
        return cls(
            store_dir=Path(store_dir) if store_dir else work_dir / STORE_SUBDIR,
            default_registry=registry,
            docker_config=config,
            gc=None if gc is None else GcConfig.parse(gc, registry),
        )
