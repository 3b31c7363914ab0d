"""``POST /api/v1``: Mesos v1 operator calls plus dockyard's task calls.

Malformed input gets 400 naming the field, unknown ids 404; the agent keeps
serving whatever a request contains.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard import __version__
from dockyard.agent import TaskConflictError, TaskNotFoundError
from dockyard.api import views
from dockyard.api.auth import authenticated, call_needs_credentials, unauthorized
from dockyard.api.body import json_body
from dockyard.api.keys import AGENT, FLAGS, KILLS
from dockyard.api.plugins import get_plugins
from dockyard.api.subscribe import subscribe
from dockyard.api.warnings import log_unknown_fields, with_warnings
from dockyard.containers import LaunchError
from dockyard.dispatcher import KillUnsupportedError, NotSupportedError
from dockyard.ledger import StorageError
from dockyard.messages import (
    Call,
    CallType,
    Flag,
    GetFlagsResponse,
    GetHealthResponse,
    GetVersionResponse,
    MessageError,
    PruneSandboxesResponse,
    Response,
    ResponseType,
    VersionInfo,
    dump,
)
from dockyard.messages.jsontext import compact
from dockyard.messages.unknown import load_checked
from dockyard.standalone import ContainerNotFoundError, ContainerStillRunningError
from dockyard.validation import validate_call

log = logging.getLogger(__name__)

Handler = Callable[[web.Request, Call], Awaitable[web.StreamResponse]]


def respond(response: Response) -> web.Response:
    return web.json_response(dump(response), dumps=compact)


def bad_request(reason: str) -> web.Response:
    return web.Response(status=400, text=reason)


async def handle(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, path="call")
    try:
        call, unknown = load_checked(
            Call, body, path="call", check=check_call, strict=request.app[FLAGS].strict_json
        )
    except MessageError as error:
        return bad_request(str(error))
    log_unknown_fields(call.type.name, unknown)
    return with_warnings(await dispatch(request, call), unknown)


def check_call(call: Call) -> None:
    validate_call(call, path="call")


async def dispatch(request: web.Request, call: Call) -> web.StreamResponse:
    handler = HANDLERS.get(call.type)
    if handler is None:
        return web.Response(status=501, text=f"Call type {call.type.name} is not implemented")
    if call_needs_credentials(request.app[FLAGS], call.type) and not authenticated(request):
        return unauthorized()
    try:
        return await handler(request, call)
    except MessageError as error:
        return bad_request(str(error))
    except (TaskNotFoundError, ContainerNotFoundError) as error:
        return web.Response(status=404, text=str(error))
    except TaskConflictError as error:
        return web.Response(status=409, text=str(error))
    except StorageError as error:
        return web.Response(status=507, text=str(error))


async def get_health(request: web.Request, call: Call) -> web.Response:
    """Unhealthy while the ledger cannot write (updates are held, launches refused)."""
    healthy = request.app[AGENT].ledger.failure is None
    return respond(
        Response(type=ResponseType.GET_HEALTH, get_health=GetHealthResponse(healthy=healthy))
    )


async def get_version(request: web.Request, call: Call) -> web.Response:
    info = VersionInfo(version=__version__)
    return respond(
        Response(type=ResponseType.GET_VERSION, get_version=GetVersionResponse(version_info=info))
    )


async def get_flags(request: web.Request, call: Call) -> web.Response:
    flags = [Flag(name=name, value=value) for name, value in request.app[FLAGS].as_dict().items()]
    return respond(Response(type=ResponseType.GET_FLAGS, get_flags=GetFlagsResponse(flags=flags)))


async def get_state(request: web.Request, call: Call) -> web.Response:
    state = views.get_state(request.app[AGENT])
    return respond(Response(type=ResponseType.GET_STATE, get_state=state))


async def get_tasks(request: web.Request, call: Call) -> web.Response:
    tasks = views.get_tasks(request.app[AGENT])
    return respond(Response(type=ResponseType.GET_TASKS, get_tasks=tasks))


async def get_containers(request: web.Request, call: Call) -> web.Response:
    show_standalone = bool(call.get_containers and call.get_containers.show_standalone)
    containers = await views.get_containers(request.app[AGENT], show_standalone)
    return respond(Response(type=ResponseType.GET_CONTAINERS, get_containers=containers))


async def launch_task(request: web.Request, call: Call) -> web.Response:
    assert call.launch_task is not None
    await request.app[AGENT].launch_task(call.launch_task.task, call.launch_task.framework_info)
    return web.Response(status=202)


async def kill_task(request: web.Request, call: Call) -> web.Response:
    assert call.kill_task is not None
    agent = request.app[AGENT]
    record = agent.find_task(call.kill_task.task_id)
    if record.terminal:
        return web.Response(status=200)
    killing = asyncio.create_task(
        agent.kill_task(call.kill_task.task_id, call.kill_task.kill_policy)
    )
    request.app[KILLS].add(killing)
    killing.add_done_callback(request.app[KILLS].discard)
    return web.Response(status=202)


async def launch_container(request: web.Request, call: Call) -> web.Response:
    assert call.launch_container is not None
    try:
        launched = await request.app[AGENT].launch_container(call.launch_container)
    except NotSupportedError as error:
        return bad_request(f"The provided ContainerInfo is not supported: {error}")
    except LaunchError as error:
        return bad_request(f"Failed to launch container: {error}")
    return web.Response(status=200 if launched else 202)


async def wait_container(request: web.Request, call: Call) -> web.Response:
    assert call.wait_container is not None
    termination = await request.app[AGENT].wait_container(call.wait_container.container_id)
    return respond(
        Response(type=ResponseType.WAIT_CONTAINER, wait_container=views.wait_container(termination))
    )


async def kill_container(request: web.Request, call: Call) -> web.Response:
    assert call.kill_container is not None
    number = call.kill_container.signal or signal.SIGKILL
    try:
        killed = await request.app[AGENT].kill_container(call.kill_container.container_id, number)
    except KillUnsupportedError as error:
        return web.Response(status=501, text=str(error))
    if not killed:
        return web.Response(status=404, text="Container cannot be found (or is already killed)")
    return web.Response(status=200)


async def remove_container(request: web.Request, call: Call) -> web.Response:
    assert call.remove_container is not None
    try:
        request.app[AGENT].remove_container(call.remove_container.container_id)
    except ContainerStillRunningError as error:
        return web.Response(status=500, text=str(error))
    return web.Response(status=200)


async def prune_sandboxes(request: web.Request, call: Call) -> web.Response:
    removed = await request.app[AGENT].prune_sandboxes()
    return respond(
        Response(
            type=ResponseType.PRUNE_SANDBOXES,
            prune_sandboxes=PruneSandboxesResponse(removed=removed),
        )
    )


HANDLERS: dict[CallType, Handler] = {
    CallType.GET_HEALTH: get_health,
    CallType.GET_VERSION: get_version,
    CallType.GET_FLAGS: get_flags,
    CallType.GET_STATE: get_state,
    CallType.GET_TASKS: get_tasks,
    CallType.GET_CONTAINERS: get_containers,
    CallType.LAUNCH_TASK: launch_task,
    CallType.KILL_TASK: kill_task,
    CallType.LAUNCH_CONTAINER: launch_container,
    CallType.WAIT_CONTAINER: wait_container,
    CallType.KILL_CONTAINER: kill_container,
    CallType.REMOVE_CONTAINER: remove_container,
    CallType.SUBSCRIBE: subscribe,
    CallType.PRUNE_SANDBOXES: prune_sandboxes,
    CallType.GET_PLUGINS: get_plugins,
}
