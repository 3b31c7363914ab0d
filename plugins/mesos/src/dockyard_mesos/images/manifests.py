"""Manifests and indexes of the Docker (schema 2) and OCI image formats, and the one
platform the store pulls from an index (this machine's, on linux)."""

from __future__ import annotations

import enum
import json
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard_mesos.images.errors import UnsupportedImage

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_LIST, OCI_INDEX)
ACCEPT = ", ".join((*MANIFESTS, *INDEXES))


class Compression(enum.Enum):
    """How a layer's tar archive is compressed."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


LAYER_COMPRESSION: Mapping[str, Compression] = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": Compression.GZIP,
    "application/vnd.oci.image.layer.v1.tar+gzip": Compression.GZIP,
    "application/vnd.oci.image.layer.v1.tar+zstd": Compression.ZSTD,
    "application/vnd.oci.image.layer.v1.tar": Compression.NONE,
}
"""The layer media types the store unpacks (foreign and non-distributable ones are not)."""
CONFIGS = frozenset(
    {"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"}
)
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}
ARCHITECTURE = _MACHINES.get(platform.machine(), platform.machine())
"""The architecture picked from an index (OCI names: amd64, arm64...)."""


@dataclass(frozen=True)
class Descriptor:
    """A content-addressed blob: what it is, its digest and its size."""

    media_type: str
    digest: str
    size: int

    @property
    def hex(self) -> str:
        return self.digest.removeprefix("sha256:")

    @classmethod
    def from_json(cls, value: Any, where: str) -> Descriptor:
        if not isinstance(value, Mapping):
            raise UnsupportedImage(f"{where} is not an object")
        digest, size, media_type = value.get("digest"), value.get("size"), value.get("mediaType")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise UnsupportedImage(f"{where}: digest {digest!r} is not a sha256 digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UnsupportedImage(f"{where}: size {size!r} is not a byte count")
        if not isinstance(media_type, str):
            raise UnsupportedImage(f"{where}: mediaType is missing")
        return cls(media_type, digest, size)


@dataclass(frozen=True)
class Manifest:
    """An image manifest: the config blob and the layer blobs, base first."""

    config: Descriptor
    layers: tuple[Descriptor, ...]


def parse_document(body: bytes) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise UnsupportedImage(f"the manifest is not JSON ({error})") from None
    if not isinstance(document, Mapping):
        raise UnsupportedImage("the manifest is not a JSON object")
    return document


def media_type_of(document: Mapping[str, Any], content_type: str | None) -> str:
    """The document's own ``mediaType``, else the response's, else what its keys say (OCI
    makes ``mediaType`` optional)."""
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if content_type and content_type.split(";")[0].strip() in (*MANIFESTS, *INDEXES):
        return content_type.split(";")[0].strip()
    if document.get("schemaVersion") == 1:
        return "application/vnd.docker.distribution.manifest.v1+json"
    if "manifests" in document:
        return OCI_INDEX
    return OCI_MANIFEST


def parse_manifest(document: Mapping[str, Any]) -> Manifest:
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise UnsupportedImage("the manifest has no 'layers' list")
    config = Descriptor.from_json(document.get("config"), "manifest config")
    if config.media_type not in CONFIGS:
        raise UnsupportedImage(f"unsupported config media type '{config.media_type}'")
    parsed = tuple(
        Descriptor.from_json(layer, f"manifest layer {index}") for index, layer in enumerate(layers)
    )
    for layer in parsed:
        if layer.media_type not in LAYER_COMPRESSION:
            raise UnsupportedImage(
                f"unsupported layer media type '{layer.media_type}' (supported: gzip, zstd or "
                "uncompressed tar layers)"
            )
    return Manifest(config, parsed)


def pick_platform(document: Mapping[str, Any]) -> Descriptor:
    """The manifest for linux on this machine's architecture, from an index."""
    entries = document.get("manifests")
    if not isinstance(entries, list):
        raise UnsupportedImage("the index has no 'manifests' list")
    offered = []
    for index, entry in enumerate(entries):
        wanted = entry.get("platform") if isinstance(entry, Mapping) else None
        if not isinstance(wanted, Mapping):
            continue
        os_name, architecture = wanted.get("os"), wanted.get("architecture")
        offered.append(f"{os_name}/{architecture}")
        if os_name == "linux" and architecture == ARCHITECTURE:
            descriptor = Descriptor.from_json(entry, f"index manifest {index}")
            if descriptor.media_type not in MANIFESTS:
                raise UnsupportedImage(
                    f"the index names an unsupported manifest type '{descriptor.media_type}'"
                )
            return descriptor
    raise UnsupportedImage(
        f"no manifest for linux/{ARCHITECTURE} in the index (it has: "
        f"{', '.join(offered) or 'none'})"
    )
