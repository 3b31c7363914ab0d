"""OCI and Docker v2 images built with Python alone, and pushed to a registry over the
Registry HTTP API (no Docker daemon): the images the image store tests pull.

A layer is an uncompressed tar (``bytes``); :func:`image` compresses it (gzip unless told
otherwise), writes the config and the manifest (Docker schema 2 or OCI), and :func:`push`
uploads blobs and manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from tests.debian_image import debian_rootfs_tar
from tests.docker.images import busybox_rootfs
from tests.docker.registry import PASSWORD, USER

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"

Compression = Literal["gzip", "zstd", "none"]


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Entry:
    """One tar member: a file (``data``), a directory, a symbolic or hard link."""

    name: str
    data: bytes | None = None
    kind: bytes = tarfile.REGTYPE
    link: str = ""
    mode: int = 0o644
    owner: tuple[int, int] = (0, 0)


def file(name: str, text: str, mode: int = 0o644) -> Entry:
    return Entry(name, text.encode(), mode=mode)


def directory(name: str) -> Entry:
    return Entry(name, kind=tarfile.DIRTYPE, mode=0o755)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, kind=tarfile.SYMTYPE, link=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, kind=tarfile.LNKTYPE, link=target)


def whiteout(path: str) -> Entry:
    """Deletes ``path`` of the layers below (``dir/.wh.name``)."""
    parent, _, name = path.rpartition("/")
    return file(f"{parent}/.wh.{name}" if parent else f".wh.{name}", "")


def opaque(path: str) -> Entry:
    """Hides everything the layers below have in directory ``path``."""
    return file(f"{path}/.wh..wh..opq", "")


def tar_layer(entries: Iterable[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type, info.linkname, info.mode = entry.kind, entry.link, entry.mode
            info.mtime = 1_700_000_000
            info.uid, info.gid = entry.owner
            if entry.data is not None:
                info.size = len(entry.data)
                archive.addfile(info, io.BytesIO(entry.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def busybox_layer() -> bytes:
    """busybox-static with a link per applet (``/bin/sh``...), as tests/docker imports it."""
    return busybox_rootfs()


def debian_python_layer() -> bytes:
    """A Debian root file system with python3 (tests/debian_image.py's, built once)."""
    return debian_rootfs_tar().read_bytes()


@dataclass
class Built:
    """A manifest (or index) and every blob it needs, by digest."""

    manifest: bytes
    media_type: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    children: list[Built] = field(default_factory=list)
    """The manifests an index names (pushed by digest before it)."""

    @property
    def digest(self) -> str:
        return digest(self.manifest)

    @property
    def layer_digests(self) -> list[str]:
        document = json.loads(self.manifest)
        return [layer["digest"] for layer in document.get("layers", [])]


def image(
    layers: Iterable[bytes],
    config: Mapping[str, Any] | None = None,
    *,
    oci: bool = False,
    compression: Compression | Sequence[Compression] = "gzip",
    architecture: str = "amd64",
) -> Built:
    """An image of ``layers`` (uncompressed tars, base first) with ``config`` as the image
    config's ``config`` (``Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``, ``User``), each
    layer compressed as ``compression`` says (one for all, or one per layer)."""
    layers = list(layers)
    each = [compression] * len(layers) if isinstance(compression, str) else list(compression)
    assert len(each) == len(layers), "one compression per layer"
    blobs = [COMPRESSORS[kind](layer) for kind, layer in zip(each, layers, strict=True)]
    config_blob = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": dict(config or {"Env": ["PATH=/bin"]}),
            "rootfs": {"type": "layers", "diff_ids": [digest(layer) for layer in layers]},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
            "size": len(config_blob),
            "digest": digest(config_blob),
        },
        "layers": [
            {"mediaType": _layer_type(kind, oci), "size": len(blob), "digest": digest(blob)}
            for kind, blob in zip(each, blobs, strict=True)
        ],
    }
    return Built(
        json.dumps(manifest).encode(),
        manifest["mediaType"],  # type: ignore[arg-type]
        {digest(blob): blob for blob in [config_blob, *blobs]},
    )


def _gzip(layer: bytes) -> bytes:
    """Compressed the same way every time: equal layers are one blob, as in real images."""
    return gzip.compress(layer, compresslevel=1, mtime=0)


COMPRESSORS: Mapping[Compression, Callable[[bytes], bytes]] = {
    "gzip": _gzip,
    "zstd": zstd.compress,
    "none": bytes,
}


def zstd_stream(layer: bytes, window_log: int) -> bytes:
    """``layer`` compressed as a stream (no size in the frame header), with a
    ``2**window_log`` byte window that a decompressor must hold."""
    buffer = io.BytesIO()
    options: dict[int, int] = {zstd.CompressionParameter.window_log: window_log}
    with zstd.ZstdFile(buffer, "w", options=options) as stream:
        stream.write(layer)
    return buffer.getvalue()


def zstd_cut_between_frames(layer: bytes) -> bytes:
    """All but the last member of ``layer`` in one zstd frame, then the first bytes of the
    next frame: what decompresses ends between two members, so only the decompressor can
    tell the layer is cut short."""
    with tarfile.open(fileobj=io.BytesIO(layer)) as archive:
        last = archive.getmembers()[-1].offset
    return zstd.compress(layer[:last]) + zstd.compress(layer[last:])[:6]


def _layer_type(compression: Compression, oci: bool) -> str:
    """The media type ``docker buildx`` gives it: zstd only exists in the OCI form."""
    if compression == "zstd":
        return OCI_ZSTD_LAYER
    if compression == "none":
        return OCI_TAR_LAYER
    return OCI_LAYER if oci else DOCKER_LAYER


def with_layer_blob(built: Built, position: int, blob: bytes) -> Built:
    """``built`` with layer ``position``'s blob replaced by ``blob`` (its digest and size
    follow; its media type stays): a layer broken at its source, which digests cannot tell."""
    document = json.loads(built.manifest)
    layer = document["layers"][position]
    blobs = {key: value for key, value in built.blobs.items() if key != layer["digest"]}
    layer["digest"], layer["size"] = digest(blob), len(blob)
    return Built(json.dumps(document).encode(), built.media_type, {**blobs, digest(blob): blob})


def index(platforms: Mapping[str, Built], *, oci: bool = False) -> Built:
    """A manifest list (or OCI index) of images keyed by ``os/architecture``."""
    media_type = OCI_INDEX if oci else DOCKER_LIST
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {
                "mediaType": built.media_type,
                "size": len(built.manifest),
                "digest": built.digest,
                "platform": {"os": key.split("/")[0], "architecture": key.split("/")[1]},
            }
            for key, built in platforms.items()
        ],
    }
    return Built(json.dumps(document).encode(), media_type, children=list(platforms.values()))


def push(address: str, repository: str, tag: str, built: Built) -> str:
    """Upload ``built`` to the registry at ``address`` (http, htpasswd credentials) as
    ``repository:tag``; returns the reference ``address/repository:tag``."""
    with requests.Session() as session:
        session.auth = (USER, PASSWORD)
        _push(session, f"http://{address}/v2/{repository}", tag, built)
    return f"{address}/{repository}:{tag}"


def _push(session: requests.Session, base: str, tag: str, built: Built) -> None:
    for child in built.children:
        _push(session, base, child.digest, child)
    for blob_digest, blob in built.blobs.items():
        if session.head(f"{base}/blobs/{blob_digest}", timeout=30).status_code == 200:
            continue
        started = session.post(f"{base}/blobs/uploads/", timeout=30)
        started.raise_for_status()
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = session.put(
            f"{location}{separator}digest={blob_digest}",
            data=blob,
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        done.raise_for_status()
    sent = session.put(
        f"{base}/manifests/{tag}",
        data=built.manifest,
        headers={"Content-Type": built.media_type},
        timeout=30,
    )
    sent.raise_for_status()
