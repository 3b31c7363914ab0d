"""Typed keys of what the aiohttp application holds."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.agent import Agent
from dockyard.api.events import EventHub
from dockyard.flags import Flags

AGENT = web.AppKey("agent", Agent)
FLAGS = web.AppKey("flags", Flags)
EVENTS = web.AppKey("events", EventHub)
KILLS = web.AppKey("kills", set[asyncio.Task[object]])
HEARTBEAT_SECONDS = web.AppKey("heartbeat_seconds", float)
