"""A registry on 127.0.0.1 that serves one image's layer slowly, or stalls in the middle of it
until released, and tells whether the Engine hung up (a cancelled pull).

The Engine notices that its client went away only when it next reports progress, so a
test releases the stall after cancelling: a cancelled pull then hangs up long before the
rest of the layer has trickled through."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from tests.docker.images import busybox_rootfs
from tests.loopback import loopback_port, serve_on_loopback

CHUNK = 32 * 1024
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Blobs:
    """A one-layer image: manifest, config and layer, content-addressed as a registry is."""

    manifest: bytes
    by_digest: dict[str, bytes]
    layer_digest: str

    @classmethod
    def build(cls, architecture: str) -> Blobs:
        rootfs = busybox_rootfs({"id": f"{uuid.uuid4()}\n"})  # a layer new to the Engine
        layer = gzip.compress(rootfs, compresslevel=1)
        config = json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                "config": {"Env": ["PATH=/bin"]},
                "rootfs": {"type": "layers", "diff_ids": [digest(rootfs)]},
            }
        ).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": digest(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": digest(layer),
                }
            ],
        }
        return cls(
            manifest=json.dumps(manifest).encode(),
            by_digest={digest(config): config, digest(layer): layer},
            layer_digest=digest(layer),
        )


@dataclass
class SlowRegistry:
    blobs: Blobs
    delay: float
    """Seconds between two chunks of the layer."""
    stall: bool
    """Stop half-way through the layer until :attr:`released`."""
    address: str = ""
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the Engine closed the layer download before its end."""

    @property
    def reference(self) -> str:
        return f"{self.address}/dockyard-test/slow:v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self.base)
        app.router.add_get("/v2/{name:.+}/manifests/{reference}", self.manifest)
        app.router.add_get("/v2/{name:.+}/blobs/{digest}", self.blob)
        return app

    async def base(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def manifest(self, request: web.Request) -> web.Response:
        return web.Response(body=self.blobs.manifest, content_type=MANIFEST_TYPE)

    async def blob(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["digest"]
        data = self.blobs.by_digest.get(name)
        if data is None:
            raise web.HTTPNotFound()
        if name != self.blobs.layer_digest:
            return web.Response(body=data, content_type="application/octet-stream")
        response = web.StreamResponse(headers={"Content-Length": str(len(data))})
        await response.prepare(request)
        try:
            for offset in range(0, len(data), CHUNK):
                if self.stall and offset >= len(data) // 2:
                    await self._hold(request)
                await response.write(data[offset : offset + CHUNK])
                await asyncio.sleep(self.delay)
        except ConnectionError:
            self.hung_up.set()
        return response

    async def _hold(self, request: web.Request) -> None:
        self.stalled.set()
        while not self.released.is_set():
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("the Engine hung up")
            await asyncio.sleep(0.02)


async def serve(registry: SlowRegistry) -> web.AppRunner:
    runner = await serve_on_loopback(registry.app())
    registry.address = f"127.0.0.1:{loopback_port(runner)}"
    return runner
