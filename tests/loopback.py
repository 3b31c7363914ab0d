"""Test servers (origins, registries) listen on a free port of 127.0.0.1, never beyond."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def serve_on_loopback(app: web.Application, **runner_options: Any) -> web.AppRunner:
    """Start ``app`` on 127.0.0.1 and a free port; ``loopback_port(runner)`` tells which."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def loopback_port(runner: web.AppRunner) -> int:
    port: int = runner.addresses[0][1]
    return port
