"""The image store (Mesos's docker store): pulls images into content-addressed layers, each
downloaded and unpacked once however many images and launches want it, and keeps them
across agent restarts until garbage collection finds no container holding them.

On disk, below ``--docker_store_dir`` (the agent's alone, 0700)::

    layers/<sha256 hex>/     an unpacked layer, renamed into place when complete
    blobs/<sha256 hex>       a layer being downloaded (continued after a failure or restart)
    staging/                 layers being unpacked; emptied at start (a crash's half-work)
    images.json              reference -> manifest digest, layer digests, config
    holds/<container>.json   the layers a container's root file system uses
    lock                     one agent per store
"""

from __future__ import annotations

import asyncio
import collections
import errno
import fcntl
import functools
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from dockyard_mesos.images import extract, manifests, state
from dockyard_mesos.images.auth import Authenticator, Credentials
from dockyard_mesos.images.errors import ImageError, StoreFull, UnsupportedImage
from dockyard_mesos.images.model import Image, ImageConfig
from dockyard_mesos.images.progress import LayerProgress, PullProgress
from dockyard_mesos.images.reference import (
    DEFAULT_REGISTRY,
    Reference,
    ReferenceError,
    Registry,
)
from dockyard_mesos.images.registry import RegistryClient, digest_of
from dockyard_mesos.images.settings import GcConfig, StoreSettings
from dockyard_mesos.images.sharing import Shared

log = logging.getLogger(__name__)

MAX_DOWNLOADS = 4
"""Layers downloaded at once (per store)."""
MAX_UNPACKS = 1
"""Layers unpacked at once: one thread, as Docker does; two threads of many small
system calls each wait for the GIL after every call (the convoy effect) and end slower."""
MANIFEST_DEPTH = 2
"""An index may name a manifest, not another index."""


@dataclass(frozen=True)
class Collected:
    """What one garbage collection removed."""

    images: tuple[str, ...]
    layers: tuple[str, ...]


class ImageStore:
    """Call :meth:`start` before anything else and :meth:`close` at the end."""

    def __init__(
        self,
        store_dir: Path,
        *,
        default_registry: str = DEFAULT_REGISTRY,
        docker_config: Mapping[str, Any] | None = None,
        gc: GcConfig | None = None,
    ) -> None:
        self._dir = store_dir
        self._registry = Registry.parse(default_registry)
        self._credentials = Credentials(docker_config)
        self._gc = gc
        self._layers_dir = store_dir / "layers"
        self._blobs_dir = store_dir / "blobs"
        self._staging_dir = store_dir / "staging"
        self._holds_dir = store_dir / "holds"
        self._index = store_dir / "images.json"
        self._images: dict[str, state.StoredImage] = {}
        self._holds: dict[str, state.Hold] = {}
        self._damaged_holds: list[Path] = []
        self._pulls: Shared[Image] = Shared()
        self._layer_jobs: Shared[None] = Shared()
        self._layer_progress: dict[str, LayerProgress] = {}
        self._pull_progress: dict[str, PullProgress] = {}
        self._pinned: collections.Counter[str] = collections.Counter()
        """Layers of pulls in flight: not collected even before any image names them."""
        self._wanted: collections.Counter[str] = collections.Counter()
        """References being handed out by :meth:`get`: not collected before they are held."""
        self._downloads = asyncio.Semaphore(MAX_DOWNLOADS)
        self._unpacks = asyncio.Semaphore(MAX_UNPACKS)
        self._index_lock = asyncio.Lock()
        self._lock_fd: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._client: RegistryClient | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.metrics: collections.Counter[str] = collections.Counter()
        """``pulls``, ``pulls_failed``, ``layers_downloaded``, ``bytes_downloaded``..."""

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> ImageStore:
        store = cls(settings.store_dir, docker_config=settings.docker_config, gc=settings.gc)
        store._registry = settings.default_registry
        return store

    @property
    def directory(self) -> Path:
        return self._dir

    # -- start-up and shut-down ----------------------------------------------------------

    async def start(self) -> None:
        """Lock the store, drop a crash's half-unpacked layers, load the records; raises
        :class:`ImageError` when the store is in use by another agent or unusable."""
        await asyncio.to_thread(self._open)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60),
            connector=aiohttp.TCPConnector(limit_per_host=MAX_DOWNLOADS * 2),
            trust_env=True,
        )
        self._client = RegistryClient(
            self._session, Authenticator(self._session, self._credentials)
        )
        if self._gc is not None:
            self._watcher = asyncio.create_task(self._watch_disk(self._gc))

    def _open(self) -> None:
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._dir.chmod(0o700)  # layers hold setuid programs of any image
            fd = os.open(self._dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise ImageError(f"Cannot open the image store {self._dir}: {error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ImageError(
                f"The image store {self._dir} is in use by another agent "
                "(give each agent its own --docker_store_dir)"
            ) from None
        self._lock_fd = fd
        for directory in (self._layers_dir, self._blobs_dir, self._holds_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
        shutil.rmtree(self._staging_dir, ignore_errors=True)
        self._staging_dir.mkdir(mode=0o700)
        self._images = state.load_images(self._index, self._dir / "quarantine")
        present = {path.name for path in self._layers_dir.iterdir()}
        for reference, image in list(self._images.items()):
            if not all(_hex(layer) in present for layer in image.layers):
                log.warning(
                    "image store: a layer of '%s' is missing; it will be pulled again", reference
                )
                del self._images[reference]
        self._holds, self._damaged_holds = state.load_holds(self._holds_dir)

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        await self._pulls.cancel_all()
        await self._layer_jobs.cancel_all()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- images --------------------------------------------------------------------------

    async def get(
        self,
        reference: str,
        *,
        force_pull: bool = False,
        progress: Callable[[str], None] | None = None,
        holder: str | None = None,
    ) -> Image:
        """The image, pulled unless the store has it (or ``force_pull``). Concurrent calls
        for one reference share one pull. With ``holder`` (a container id) the image's
        layers are held for it before they are returned, so no collection can come between.
        """
        try:
            parsed = Reference.parse(reference, self._registry)
        except ReferenceError as error:
            raise ImageError(f"Invalid image reference: {error}") from None
        name = str(parsed)
        self._wanted[name] += 1  # collection keeps it until it is held (or handed out)
        try:
            stored = None if force_pull else self._images.get(name)
            if stored is None:
                image = await self._pull_shared(parsed, force_pull, progress)
            else:
                self.metrics["cache_hits"] += 1
                image = self._image(name, stored)
            if holder is not None:
                await self.hold(holder, image)
            return image
        finally:
            self._wanted[name] -= 1
            self._wanted += collections.Counter()  # drops the zeros

    async def _pull_shared(
        self, reference: Reference, force: bool, progress: Callable[[str], None] | None
    ) -> Image:
        name = str(reference)
        tracker = self._pull_progress.get(name)
        if tracker is None:
            tracker = self._pull_progress[name] = PullProgress(name)
        if progress is not None:
            tracker.listeners.append(progress)
        try:
            return await self._pulls.run((name, force), lambda: self._pull(reference, tracker))
        finally:
            if progress is not None and progress in tracker.listeners:
                tracker.listeners.remove(progress)

    async def _pull(self, reference: Reference, tracker: PullProgress) -> Image:
        name = str(reference)
        assert self._client is not None, "ImageStore.start() was not called"
        log.info("Pulling image '%s'", name)
        self.metrics["pulls"] += 1
        pinned: list[str] = []
        try:
            digest, manifest = await self._manifest(reference)
            config_body = await self._client.small_blob(reference, manifest.config)
            config = _image_config(name, config_body)
            layers = [layer.digest for layer in manifest.layers]
            self._pinned.update(layers)
            pinned = layers
            self._check_room(name, manifest.layers)
            for layer in manifest.layers:
                progress = self._layer_progress.setdefault(layer.digest, LayerProgress(layer.size))
                tracker.watch(progress)
            await _all_or_none(
                self._layer_jobs.run(
                    layer.digest, functools.partial(self._fetch_layer, reference, layer)
                )
                for layer in manifest.layers
            )
            stored = state.StoredImage(digest, tuple(layers), config, time.time())
            async with self._index_lock:
                images = {**self._images, name: stored}
                await asyncio.to_thread(state.save_images, self._index, images)
                self._images = images
            tracker.finish()
        except BaseException:
            self.metrics["pulls_failed"] += 1
            raise
        finally:
            self._pinned.subtract(pinned)
            self._pinned += collections.Counter()  # drops the zeros
            self._pull_progress.pop(name, None)
            unwatched = {id(layer) for layer in tracker.detach()}
            for layer_digest, watched in list(self._layer_progress.items()):
                if id(watched) in unwatched:
                    del self._layer_progress[layer_digest]
        log.info("Pulled image '%s' (%s)", name, digest)
        return self._image(name, stored)

    async def _manifest(self, reference: Reference) -> tuple[str, manifests.Manifest]:
        """The image manifest (from an index, this machine's platform) and its digest."""
        assert self._client is not None
        ref = reference.manifest_ref
        for _ in range(MANIFEST_DEPTH):
            body, content_type = await self._client.manifest(reference, ref)
            try:
                document = manifests.parse_document(body)
                media_type = manifests.media_type_of(document, content_type)
                if media_type in manifests.INDEXES:
                    ref = manifests.pick_platform(document).digest
                    continue
                if media_type not in manifests.MANIFESTS:
                    raise UnsupportedImage(f"unsupported manifest media type '{media_type}'")
                return digest_of(body), manifests.parse_manifest(document)
            except UnsupportedImage as error:
                raise UnsupportedImage(f"Failed to pull image '{reference}': {error}") from None
        raise UnsupportedImage(f"Failed to pull image '{reference}': an index names an index")

    def _check_room(self, name: str, layers: Iterable[manifests.Descriptor]) -> None:
        missing = sum(d.size for d in layers if not (self._layers_dir / d.hex).is_dir())
        status = os.statvfs(self._dir)
        free = status.f_bavail * status.f_frsize
        if missing + extract.MIN_FREE_BYTES > free:
            raise StoreFull(
                f"Failed to pull image '{name}': its layers need {missing >> 20} MiB and the "
                f"image store {self._dir} has {free >> 20} MiB free"
            )

    async def _fetch_layer(self, reference: Reference, layer: manifests.Descriptor) -> None:
        """Download and unpack one layer, unless the store has it already."""
        assert self._client is not None
        target = self._layers_dir / layer.hex
        progress = self._layer_progress.setdefault(layer.digest, LayerProgress(layer.size))
        if target.is_dir():
            progress.advance(layer.size)
            return
        blob = self._blobs_dir / layer.hex
        async with self._downloads:
            await self._client.blob_to_file(reference, layer, blob, progress.advance)
        self.metrics["layers_downloaded"] += 1
        self.metrics["bytes_downloaded"] += layer.size
        staging = self._staging_dir / f"{layer.hex}.{uuid.uuid4().hex[:8]}"
        compression = manifests.LAYER_COMPRESSION[layer.media_type]
        name = extract.layer_name(str(reference), layer.digest)
        async with self._unpacks:
            await _unpack(blob, compression, staging, target, name)
        await asyncio.to_thread(blob.unlink, True)

    def _image(self, name: str, stored: state.StoredImage) -> Image:
        return Image(
            reference=name,
            digest=stored.digest,
            layers=tuple(self._layers_dir / _hex(layer) for layer in stored.layers),
            config=stored.config,
        )

    # -- holds and garbage collection ----------------------------------------------------

    async def hold(self, container_id: str, image: Image) -> None:
        """Keep the image's layers until :meth:`release` (persisted: survives restarts)."""
        hold = state.Hold(image.reference, tuple(f"sha256:{path.name}" for path in image.layers))
        path = state.hold_path(self._holds_dir, container_id)
        async with self._index_lock:
            await asyncio.to_thread(state.save_hold, path, hold)
            self._holds[container_id] = hold
            stored = self._images.get(image.reference)
            if stored is not None:
                self._images[image.reference] = state.StoredImage(
                    stored.digest, stored.layers, stored.config, time.time()
                )

    async def release(self, container_id: str) -> None:
        """The container no longer uses its image (unknown ids are ignored)."""
        path = state.hold_path(self._holds_dir, container_id)
        async with self._index_lock:
            self._holds.pop(container_id, None)
            await asyncio.to_thread(path.unlink, True)

    def held(self) -> Mapping[str, tuple[str, ...]]:
        """Container id -> held layer digests."""
        return {container: hold.layers for container, hold in self._holds.items()}

    async def collect_garbage(self, *, keep: Iterable[str] = ()) -> Collected:
        """Remove every image no container holds (except ``keep`` references and the
        ``excluded_images`` of ``--image_gc_config``), then every layer that no remaining
        image, hold or pull in flight uses. Held layers are never removed."""
        if self._damaged_holds:
            log.warning("image GC skipped: damaged hold files %s", self._damaged_holds)
            return Collected((), ())
        kept = {self._normalise(ref) for ref in keep}
        if self._gc is not None:
            kept |= self._gc.excluded
        async with self._index_lock:
            kept |= {hold.reference for hold in self._holds.values()}
            kept |= set(self._wanted)
            held = {layer for hold in self._holds.values() for layer in hold.layers}
            images = {ref: image for ref, image in self._images.items() if ref in kept}
            removed_images = tuple(sorted(set(self._images) - set(images)))
            if removed_images:
                await asyncio.to_thread(state.save_images, self._index, images)
                self._images = images
            used = held | {layer for image in images.values() for layer in image.layers}
            used |= {digest for digest, count in self._pinned.items() if count > 0}
            used |= {str(key) for key in self._layer_jobs.running()}
            doomed = [
                path for path in self._layers_dir.iterdir() if f"sha256:{path.name}" not in used
            ]
            trash = []
            for path in doomed:
                aside = self._staging_dir / f"gc-{path.name}-{uuid.uuid4().hex[:8]}"
                os.rename(path, aside)
                trash.append(aside)
        for aside in trash:
            await asyncio.to_thread(shutil.rmtree, aside, True)
        for blob in self._blobs_dir.iterdir():  # partial downloads of abandoned pulls
            if f"sha256:{blob.name}" not in used:
                blob.unlink(missing_ok=True)
        removed_layers = tuple(sorted(f"sha256:{path.name}" for path in doomed))
        if removed_images or removed_layers:
            log.info("image GC removed images %s and %d layers", removed_images, len(trash))
        self.metrics["gc_layers_removed"] += len(removed_layers)
        return Collected(removed_images, removed_layers)

    def _normalise(self, reference: str) -> str:
        try:
            return str(Reference.parse(reference, self._registry))
        except ReferenceError:
            return reference

    async def _watch_disk(self, config: GcConfig) -> None:
        """Mesos's automatic image GC: collect when free space drops below the headroom."""
        while True:
            await asyncio.sleep(config.watch_interval.total_seconds())
            try:
                status = os.statvfs(self._dir)
                if status.f_blocks and status.f_bavail / status.f_blocks < config.headroom:
                    await self.collect_garbage()
            except (OSError, ImageError) as error:
                log.warning("image GC failed: %s", error)


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _image_config(name: str, body: bytes) -> ImageConfig:
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return ImageConfig.from_json(document)
    except ValueError as error:
        raise UnsupportedImage(
            f"Failed to pull image '{name}': bad image config: {error}"
        ) from None


async def _all_or_none(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Await every job; the first failure cancels the rest (after they have stopped) and is
    raised as it is, not wrapped in an exception group."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
        if isinstance(first, BaseExceptionGroup):
            raise first.exceptions[0] from None
        raise first from None


async def _unpack(
    blob: Path, compression: manifests.Compression, staging: Path, target: Path, name: str
) -> None:
    """Unpack in a thread into ``staging``, then rename it to ``target``. Cancelled, it
    stops the thread and waits for it before removing what it wrote."""
    stop = threading.Event()

    def work() -> None:
        extract.extract_layer(blob, compression, staging, name, stop)
        _rename_into_place(staging, target)

    running = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        await asyncio.shield(running)
    except BaseException:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, staging, True)
        raise


def _rename_into_place(staging: Path, target: Path) -> None:
    """Another process cannot race us (the store is locked); a layer already there (a
    restart after the rename) is kept and the new copy dropped."""
    try:
        os.rename(staging, target)
    except OSError as error:
        if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        shutil.rmtree(staging, ignore_errors=True)
