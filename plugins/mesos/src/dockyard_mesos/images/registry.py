"""The Docker Registry HTTP API v2, read side: manifests and blobs, every byte checked
against its digest, and a blob download that continues where a failed one stopped (an
HTTP ``Range`` request from the partial file's end, also after an agent restart)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from dockyard_mesos.images.auth import Authenticator
from dockyard_mesos.images.errors import (
    DigestMismatch,
    ImageError,
    ImageNotFound,
    RegistryUnavailable,
    StoreFull,
    Unauthorized,
    UnsupportedImage,
)
from dockyard_mesos.images.manifests import ACCEPT, Descriptor
from dockyard_mesos.images.reference import Reference

log = logging.getLogger(__name__)

MAX_MANIFEST = 4 << 20
"""Bytes a manifest or index may have (the registry's own limit is 4 MiB)."""
MAX_CONFIG = 8 << 20
CHUNK = 1 << 20
ATTEMPTS = 4
"""Tries of one blob download; each after the first continues from the partial file."""
RETRY_DELAY = 0.5


class RegistryClient:
    """Requests to registries over one aiohttp session, authenticated as they challenge."""

    def __init__(self, session: aiohttp.ClientSession, authenticator: Authenticator) -> None:
        self._session = session
        self._auth = authenticator

    @asynccontextmanager
    async def _get(
        self, reference: Reference, path: str, headers: dict[str, str], what: str
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A GET of ``/v2/<repository>/<path>``: a 401 is answered once, errors named."""
        url = f"{reference.registry.url}/v2/{reference.repository}/{path}"
        for attempt in (1, 2):
            sent = {**headers, **self._auth.header(reference)}
            try:
                response = await self._session.get(url, headers=sent)
            except aiohttp.ClientError as error:
                raise RegistryUnavailable(
                    f"Failed to pull image '{reference}': cannot reach registry "
                    f"{reference.registry.url}: {error}"
                ) from None
            try:
                if response.status == 401 and attempt == 1:
                    challenge = response.headers.get("WWW-Authenticate")
                    response.release()
                    self._auth.forget(reference)
                    await self._auth.answer(reference, challenge)
                    continue
                _raise_for_status(reference, response, what, bool(sent.get("Authorization")))
                yield response
                return
            finally:
                response.release()

    async def manifest(self, reference: Reference, ref: str) -> tuple[bytes, str | None]:
        """The manifest or index ``ref`` (tag or digest) as sent, checked against its digest:
        the one asked for, or the one the registry says (``Docker-Content-Digest``)."""
        async with self._get(reference, f"manifests/{ref}", {"Accept": ACCEPT}, "manifest") as r:
            body = await _read_bounded(reference, r, MAX_MANIFEST, "manifest")
            expected = ref if ref.startswith("sha256:") else r.headers.get("Docker-Content-Digest")
            content_type = r.headers.get("Content-Type")
        actual = digest_of(body)
        if expected is not None and expected != actual:
            raise DigestMismatch(
                f"Failed to pull image '{reference}': the manifest's digest is {actual}, "
                f"not {expected}"
            )
        return body, content_type

    async def small_blob(self, reference: Reference, descriptor: Descriptor) -> bytes:
        """A blob read into memory (the image config), checked against its digest."""
        if descriptor.size > MAX_CONFIG:
            raise UnsupportedImage(
                f"Failed to pull image '{reference}': its config is {descriptor.size} bytes "
                f"(at most {MAX_CONFIG})"
            )
        async with self._get(reference, f"blobs/{descriptor.digest}", {}, "config") as response:
            body = await _read_bounded(reference, response, descriptor.size, "config")
        _check_blob(reference, descriptor, hashlib.sha256(body), len(body))
        return body

    async def blob_to_file(
        self,
        reference: Reference,
        descriptor: Descriptor,
        partial: Path,
        progress: Callable[[int], None],
    ) -> None:
        """Download a blob into ``partial``, continuing what is already there; raises
        :class:`DigestMismatch` (and removes the file) when the bytes are not the blob's."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await self._download(reference, descriptor, partial, progress)
                return
            except (TimeoutError, RegistryUnavailable, aiohttp.ClientError) as error:
                if attempt == ATTEMPTS:
                    if isinstance(error, ImageError):
                        raise
                    raise RegistryUnavailable(
                        f"Failed to pull image '{reference}': downloading layer "
                        f"{descriptor.digest} failed: {error or type(error).__name__}"
                    ) from None
                log.info(
                    "Pulling image '%s': layer %s interrupted (%s), continuing",
                    reference,
                    descriptor.digest,
                    error or type(error).__name__,
                )
                await asyncio.sleep(RETRY_DELAY * attempt)

    async def _download(
        self,
        reference: Reference,
        descriptor: Descriptor,
        partial: Path,
        progress: Callable[[int], None],
    ) -> None:
        hasher, have = await asyncio.to_thread(_hash_partial, partial, descriptor.size)
        progress(have)
        if have < descriptor.size:
            headers = {"Range": f"bytes={have}-"} if have else {}
            async with self._get(reference, f"blobs/{descriptor.digest}", headers, "layer") as r:
                if r.status != 206 and have:
                    log.info("registry ignored the Range request: downloading %s again", partial)
                    hasher, have = hashlib.sha256(), 0
                    progress(0)
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    os.ftruncate(fd, have)
                    os.lseek(fd, have, os.SEEK_SET)
                    async for chunk in r.content.iter_chunked(CHUNK):
                        have += len(chunk)
                        if have > descriptor.size:
                            break
                        hasher.update(chunk)
                        _write_all(reference, fd, chunk)
                        progress(have)
                finally:
                    os.close(fd)
        try:
            _check_blob(reference, descriptor, hasher, have)
        except DigestMismatch:
            await asyncio.to_thread(partial.unlink, True)
            raise


def _hash_partial(partial: Path, size: int) -> tuple[hashlib._Hash, int]:
    """The hash of what an earlier try left in ``partial`` (nothing if it is too long)."""
    hasher = hashlib.sha256()
    try:
        with partial.open("rb") as existing:
            have = os.fstat(existing.fileno()).st_size
            if have > size:
                return hasher, 0
            while block := existing.read(CHUNK):
                hasher.update(block)
            return hasher, have
    except FileNotFoundError:
        return hasher, 0


def _write_all(reference: Reference, fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as error:
        raise StoreFull(
            f"Failed to pull image '{reference}': cannot write to the image store: {error.strerror}"
        ) from None


def digest_of(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def _check_blob(
    reference: Reference, descriptor: Descriptor, hasher: hashlib._Hash, size: int
) -> None:
    actual = f"sha256:{hasher.hexdigest()}"
    if size != descriptor.size or actual != descriptor.digest:
        raise DigestMismatch(
            f"Failed to pull image '{reference}': blob {descriptor.digest} does not match its "
            f"digest (got {size} bytes with digest {actual}, expected {descriptor.size} bytes)"
        )


async def _read_bounded(
    reference: Reference, response: aiohttp.ClientResponse, limit: int, what: str
) -> bytes:
    body = await response.content.read(limit + 1)
    if len(body) > limit:
        raise UnsupportedImage(
            f"Failed to pull image '{reference}': its {what} is larger than {limit} bytes"
        )
    return body


def _raise_for_status(
    reference: Reference, response: aiohttp.ClientResponse, what: str, authenticated: bool
) -> None:
    status = response.status
    if status in (200, 206):
        return
    if status == 401 or status == 403:
        reason = "were refused" if authenticated else "are missing"
        raise Unauthorized(
            f"Failed to pull image '{reference}': the registry denied access ({status}): "
            f"credentials {reason} (--docker_config)"
        )
    if status == 404:
        raise ImageNotFound(
            f"Failed to pull image '{reference}': the registry has no such {what} (404)"
        )
    if status == 429 or status >= 500:
        raise RegistryUnavailable(
            f"Failed to pull image '{reference}': the registry answered {status} for its {what}"
        )
    raise ImageError(
        f"Failed to pull image '{reference}': the registry answered {status} for its {what}"
    )
