"""Typed keys of what the aiohttp application holds."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.agent import Agent
from dockyard.flags import Flags

AGENT = web.AppKey("agent", Agent)
FLAGS = web.AppKey("flags", Flags)
KILLS = web.AppKey("kills", set[asyncio.Task[object]])
HEARTBEAT_SECONDS = web.AppKey("heartbeat_seconds", float)
