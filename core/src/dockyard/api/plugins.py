"""dockyard's ``GET_PLUGINS`` call: installed plugins, their hooks, and the broken ones.

The same facts ``dockyard plugins`` prints, from the running agent, so that an operator
(or the web UI) sees which plugins it started and why an installed one did not load.
"""

from __future__ import annotations

from aiohttp import web

from dockyard.api.keys import AGENT
from dockyard.messages import (
    BrokenPluginEntry,
    Call,
    GetPluginsResponse,
    PluginEntry,
    Response,
    ResponseType,
    dump,
)


async def get_plugins(request: web.Request, call: Call) -> web.Response:
    agent = request.app[AGENT]
    host = agent.host
    enabled = set(agent.enabled_plugins)
    plugins = [
        PluginEntry(
            name=name,
            group=info.group,
            distribution=info.distribution,
            version=info.version,
            hooks=host.hooks_of(name),
            enabled=name in enabled,
        )
        for name, info in sorted(host.infos.items())
    ]
    broken = [
        BrokenPluginEntry(
            name=each.info.name,
            group=each.info.group,
            distribution=each.info.distribution,
            version=each.info.version,
            error=each.error,
        )
        for each in host.broken
    ]
    answer = GetPluginsResponse(plugins=plugins, broken=broken)
    return web.json_response(dump(Response(type=ResponseType.GET_PLUGINS, get_plugins=answer)))
