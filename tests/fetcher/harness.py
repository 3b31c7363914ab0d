"""Test helpers for the fetcher: a real HTTP server on 127.0.0.1, sandboxes, a started plugin."""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiohttp import web
from dockyard.containers import AgentContext, ContainerConfig
from dockyard.flags import FlagSet
from dockyard.messages import URI, CommandInfo, ContainerID
from dockyard_fetcher.plugin import FetcherPlugin


@dataclass
class Origin:
    """The test HTTP server: ``files`` by name, ``requests`` counted by path."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    stalling: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    """``/gated/<name>`` sends half the file, then the rest once this is set."""
    release_stall: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


def make_app(origin: Origin) -> web.Application:
    async def count(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]):
        origin.requests[request.path] += 1
        return await handler(request)

    async def serve(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in origin.files:
            raise web.HTTPNotFound()
        return web.Response(body=origin.files[name])

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.Response(status=code, body=b"status body")

    async def redirect(request: web.Request) -> web.Response:
        hops = int(request.match_info["hops"])
        name = request.match_info["name"]
        target = f"/redirect/{hops - 1}/{name}" if hops > 1 else f"/files/{name}"
        raise web.HTTPFound(target)

    async def chunked(request: web.Request) -> web.StreamResponse:
        """No Content-Length: the body is streamed in pieces."""
        body = origin.files[request.match_info["name"]]
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 65536):
            await response.write(body[start : start + 65536])
        await response.write_eof()
        return response

    async def stall(request: web.Request) -> web.StreamResponse:
        """Announces 1 MiB, sends a little, then goes silent until the test ends."""
        response = web.StreamResponse(headers={"Content-Length": str(1 << 20)})
        await response.prepare(request)
        await response.write(b"x" * 1000)
        origin.stalling.set()
        await origin.release_stall.wait()
        return response

    async def gated(request: web.Request) -> web.StreamResponse:
        body = origin.files[request.match_info["name"]]
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        origin.stalling.set()
        await origin.gate.wait()
        await response.write(body[len(body) // 2 :])
        await response.write_eof()
        return response

    async def truncated(request: web.Request) -> web.StreamResponse:
        """Announces more than it sends, then closes the connection."""
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"y" * 5000)
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application(middlewares=[web.middleware(count)])
    app.router.add_get("/files/{name}", serve)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect/{hops}/{name}", redirect)
    app.router.add_get("/chunked/{name}", chunked)
    app.router.add_get("/stall", stall)
    app.router.add_get("/truncated", truncated)
    app.router.add_get("/gated/{name}", gated)
    return app


async def started_plugin(work_dir: Path, **flags: str) -> FetcherPlugin:
    """A plugin started through its flags, as the agent starts it."""
    plugin = FetcherPlugin()
    registry = FlagSet()
    plugin.add_flags(registry.owned_by("fetcher"))
    values = {
        "fetcher_cache_dir": str(work_dir / "cache"),
        "fetcher_stall_timeout": "2secs",
        **flags,
    }
    parsed = registry.parse([f"--{name}={value}" for name, value in values.items()], {})
    state_dir = work_dir / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    await plugin.start(
        AgentContext(flags=parsed, agent_id="agent", work_dir=work_dir, state_dir=state_dir)
    )
    return plugin


class Sandboxes:
    """Fresh sandboxes under the test's tmp dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def config(self, *uris: URI, user: str | None = None) -> ContainerConfig:
        self.count += 1
        sandbox = self.root / f"sandbox{self.count}"
        sandbox.mkdir(parents=True)
        return ContainerConfig(
            container_id=ContainerID(value=f"container{self.count}"),
            command=CommandInfo(uris=list(uris), value="true"),
            sandbox=sandbox,
            user=user,
        )


async def fetch(plugin: FetcherPlugin, config: ContainerConfig) -> None:
    job = plugin.fetch(config=config, uris=config.command.uris)
    assert job is not None
    await job


def listing(sandbox: Path) -> list[str]:
    """Everything in a sandbox, relative, sorted (``stderr`` excluded)."""
    return sorted(
        str(path.relative_to(sandbox)) for path in sandbox.rglob("*") if path.name != "stderr"
    )


TarMode = Literal["w", "w:gz", "w:bz2", "w:xz"]


def make_tar(path: Path, members: dict[str, bytes], mode: TarMode = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            archive.addfile(info, io.BytesIO(data))
    return path
