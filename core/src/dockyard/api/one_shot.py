"""The executor API for ``dockyard launch``: a task with its own executor needs an agent
to subscribe to, so the one-shot run serves the executor API (the agent's own app, with
its token checks) on the loopback interface and a free port, while the task runs.

Nothing else is served: a one-shot run has no operator, and a local user must not be
able to launch tasks through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from dockyard.agent import Agent
from dockyard.api.access_log import AccessLog
from dockyard.api.server import READY, create_app
from dockyard.containers import StartupError
from dockyard.flags import Flags

LOOPBACK = "127.0.0.1"
SHUTDOWN_TIMEOUT = 2.0
"""Seconds an executor's open stream may delay the end of the run (its executor is gone
by then, so its stream has normally ended already)."""


@contextlib.asynccontextmanager
async def serving_executors(agent: Agent, flags: Flags) -> AsyncIterator[None]:
    """Serve the executor API of a started agent, and export it as MESOS_AGENT_ENDPOINT."""
    app = create_app(agent, flags, executor_only=True)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log_class=AccessLog,
    )
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, LOOPBACK, 0).start()
        except OSError as error:
            raise StartupError(f"cannot serve the executor API on {LOOPBACK}: {error}") from None
        agent.endpoint = f"{LOOPBACK}:{runner.addresses[0][1]}"
        app[READY].set()
        yield
    finally:
        agent.endpoint = None
        await runner.cleanup()
