"""A registry front on loopback for the image tests: it forwards to the real registry and
counts what was asked, and on request plays Docker Hub's token flow, cuts a blob download
half-way, corrupts a blob or answers 503.

Pulls go through it; pushes go to the registry directly.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import secrets
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.docker.registry import PASSWORD, USER, Registry
from tests.loopback import loopback_port, serve_on_loopback

FORWARDED = ("Content-Type", "Content-Length", "Docker-Content-Digest", "Content-Range")


@dataclass
class RegistryProxy:
    registry: Registry
    token_auth: bool = False
    """Ask for a Bearer token from ``/token`` (which wants the htpasswd user) instead of
    passing the client's Basic credentials through."""
    blob_gets: collections.Counter[str] = field(default_factory=collections.Counter)
    """GETs of each blob digest (every attempt, also ones cut short)."""
    ranges: list[tuple[str, str]] = field(default_factory=list)
    """(digest, Range header) of every ranged blob GET."""
    blob_bytes: collections.Counter[str] = field(default_factory=collections.Counter)
    """Bytes of each blob sent to clients."""
    token_requests: int = 0
    cut_after: dict[str, int] = field(default_factory=dict)
    """digest -> bytes after which the next GET of the blob is cut (once)."""
    unavailable: set[str] = field(default_factory=set)
    """Digests answered 503."""
    corrupt: set[str] = field(default_factory=set)
    """Blob digests, manifest tags or digests whose bytes are altered on the way."""
    gate: dict[str, asyncio.Event] = field(default_factory=dict)
    """digest -> event a blob GET waits for before sending anything."""
    address: str = ""
    _tokens: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> RegistryProxy:
        app = web.Application()
        app.router.add_get("/token", self._token)
        app.router.add_route("*", "/v2/{tail:.*}", self._forward)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._runner = await serve_on_loopback(app)
        self.address = f"127.0.0.1:{loopback_port(self._runner)}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def reference(self, pushed: str) -> str:
        """The reference ``pushed`` (to the registry) has through this proxy."""
        return pushed.replace(self.registry.address, self.address, 1)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401)
        if not request.query.get("scope", "").startswith("repository:"):
            return web.json_response({"errors": [{"code": "DENIED"}]}, status=400)
        token = secrets.token_hex(16)
        self._tokens.add(token)
        return web.json_response({"token": token, "expires_in": 300})

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        tail = request.match_info["tail"]
        blob = tail.rsplit("/blobs/", 1)[1] if "/blobs/" in tail else None
        target = tail.rsplit("/", 1)[-1]  # a blob's digest, a manifest's tag or digest
        headers = {k: v for k, v in request.headers.items() if k in ("Accept", "Range")}
        if self.token_auth:
            given = request.headers.get("Authorization", "")
            if given.removeprefix("Bearer ") not in self._tokens:
                realm = f"http://{self.address}/token"
                challenge = f'Bearer realm="{realm}",service="test-registry"'
                return web.Response(status=401, headers={"WWW-Authenticate": challenge})
            headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            )
        elif "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        if blob is not None and request.method == "GET":
            self.blob_gets[blob] += 1
            if "Range" in request.headers:
                self.ranges.append((blob, request.headers["Range"]))
            if blob in self.gate:
                await self.gate[blob].wait()
            if blob in self.unavailable:
                return web.Response(status=503)
        url = f"http://{self.registry.address}/v2/{tail}"
        async with self._session.request(
            request.method, url, headers=headers, params=request.query, allow_redirects=False
        ) as upstream:
            out = {k: upstream.headers[k] for k in FORWARDED if k in upstream.headers}
            if "WWW-Authenticate" in upstream.headers:
                out["WWW-Authenticate"] = upstream.headers["WWW-Authenticate"]
            response = web.StreamResponse(status=upstream.status, headers=out)
            await response.prepare(request)
            cut = self.cut_after.pop(blob, None) if blob and upstream.status < 300 else None
            sent = 0
            async for chunk in upstream.content.iter_chunked(16 * 1024):
                if cut is not None and sent + len(chunk) > cut:
                    await response.write(chunk[: cut - sent])
                    self.blob_bytes[blob or ""] += cut - sent
                    assert request.transport is not None
                    request.transport.close()  # the connection drops mid-body
                    return response
                if target in self.corrupt:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                sent += len(chunk)
                if blob is not None:
                    self.blob_bytes[blob] += len(chunk)
                await response.write(chunk)
            await response.write_eof()
            return response
