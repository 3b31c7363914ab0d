"""``dockyard agent``: the agent behind its HTTP API, until SIGTERM or SIGINT.

Shut-down is graceful: the API stops serving, subscriber streams end, and the
agent stops supervising; containers keep running and are recovered on the next
start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from aiohttp import web
from aiohttp.typedefs import Handler

from dockyard.agent import Agent
from dockyard.api import executor, files, metrics, operator, ui
from dockyard.api.access_log import AccessLog
from dockyard.api.auth import CREDENTIALS, authenticate, credentials_from_flags
from dockyard.api.browser_guard import (
    ALLOWED_HOSTS,
    allowed_hosts_from_flags,
    refuse_foreign_browsers,
)
from dockyard.api.keys import AGENT, FLAGS, HEARTBEAT_SECONDS, KILLS
from dockyard.api.last_resort import last_resort
from dockyard.containers import StartupError
from dockyard.flags import Flags
from dockyard.host import PluginHost

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 15.0
READY = web.AppKey("ready", asyncio.Event)


@web.middleware
async def until_ready(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 503 while the agent is still recovering its containers."""
    if not request.app[READY].is_set():
        return web.Response(status=503, text="The agent is recovering; retry shortly")
    response: web.StreamResponse = await handler(request)
    return response


def create_app(
    agent: Agent,
    flags: Flags,
    heartbeat: float = HEARTBEAT_INTERVAL,
    *,
    executor_only: bool = False,
) -> web.Application:
    """The agent's HTTP API; ``executor_only`` serves just the executor API (``dockyard
    launch``, which has no operator to serve)."""
    app = web.Application(
        middlewares=[last_resort, refuse_foreign_browsers, authenticate, until_ready],
        client_max_size=16 << 20,
    )
    app[AGENT] = agent
    app[FLAGS] = flags
    app[CREDENTIALS] = credentials_from_flags(flags)
    app[ALLOWED_HOSTS] = allowed_hosts_from_flags(flags)
    app[KILLS] = set()
    app[HEARTBEAT_SECONDS] = heartbeat
    app[READY] = asyncio.Event()
    app.router.add_post("/api/v1/executor", executor.handle)
    if executor_only:
        return app
    app.router.add_post("/api/v1", operator.handle)
    files.setup(app)
    app.router.add_get("/metrics/snapshot", metrics.metrics_snapshot)
    app.router.add_get("/metrics", metrics.prometheus)
    if flags.web_ui:
        ui.setup(app)
    return app


def settle_garbage_collector() -> None:
    """Once started, keep the collector off the hot path: the start-up objects (modules,
    schemas, plugins: most of the heap) are frozen out of every collection, and the
    youngest generation is collected every 10,000 net allocations, not 700 (a task's
    launch allocates thousands of short-lived objects; the cycles among them are few)."""
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def serve(flags: Flags, host: PluginHost) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    agent = Agent(flags, host)
    app = create_app(agent, flags)
    runner = web.AppRunner(app, handle_signals=False, access_log_class=AccessLog)
    await runner.setup()
    site = web.TCPSite(runner, flags.ip, flags.port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise StartupError(f"cannot serve on {flags.ip}:{flags.port}: {error.strerror}") from error
    port = runner.addresses[0][1]
    agent.endpoint = f"{flags.ip}:{port}"
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await agent.start()
        if flags.recover == "cleanup":
            await agent.cleanup()
            print(
                "dockyard agent: --recover=cleanup killed every container; exiting", file=sys.stderr
            )
            return
        app[READY].set()
        settle_garbage_collector()
        print(
            f"dockyard agent {agent.agent_id} serving on http://{agent.endpoint}",
            file=sys.stderr,
            flush=True,
        )
        await stopping.wait()
        log.info("shutting down; containers keep running")
    finally:
        agent.ledger.feed.close()  # ends every SUBSCRIBE stream
        await runner.cleanup()
        await agent.stop()
