"""Blocking Engine API calls used by the plugin (run in its thread pool, never on the loop)."""

from __future__ import annotations

import logging
from typing import Any

from docker import APIClient
from docker.errors import APIError, DockerException, NotFound
from dockyard.containers import StartupError

from dockyard_docker.spec import RunSpec

log = logging.getLogger(__name__)

MAX_POOL_SIZE = 128
"""More connections than API threads plus the events watch: no call waits for one. Log
follows and pulls have their own connections (:mod:`dockyard_docker.engine_streams`)."""


def connect(socket: str) -> APIClient:
    """An API client with the version negotiated with the daemon, or a StartupError.

    ``socket`` is a path, as in Mesos; a URL (``unix://``, ``tcp://``) is taken as it is.
    """
    url = socket if "://" in socket else f"unix://{socket}"
    try:  # "auto" asks the daemon for its API version: no daemon, no client
        api = APIClient(base_url=url, version="auto", max_pool_size=MAX_POOL_SIZE)
    except DockerException as error:
        raise StartupError(
            f"Cannot connect to the Docker daemon at {url} (--docker_socket): {error}. "
            "Start the Docker daemon or point --docker_socket at its socket; to run without "
            "Docker, use --containerizers=mesos."
        ) from None
    return api


def create(api: APIClient, spec: RunSpec) -> str:
    host_config = api.create_host_config(**spec.host)
    created = api.create_container(
        spec.image,
        command=spec.command,
        name=spec.name,
        environment=spec.environment,
        entrypoint=spec.entrypoint,
        hostname=spec.hostname,
        user=spec.user,
        working_dir=spec.working_dir,
        labels=spec.labels,
        ports=spec.exposed_ports or None,
        stop_signal=spec.stop_signal,
        stop_timeout=spec.stop_timeout,
        host_config=host_config,
        use_config_proxy=False,
    )
    docker_id: str = created["Id"]
    for network in spec.extra_networks:
        api.connect_container_to_network(docker_id, network)
    return docker_id


def signal(api: APIClient, docker_id: str, signal_name: str | int) -> bool:
    """Send a signal; False if the container is gone or not running."""
    try:
        api.kill(docker_id, signal_name)
    except APIError as error:
        if isinstance(error, NotFound) or error.status_code == 409:
            return False
        raise
    return True


def remove(api: APIClient, docker_id: str) -> None:
    try:
        api.remove_container(docker_id, v=True, force=True)
    except NotFound:
        pass
    except APIError as error:
        log.warning("Could not remove container %s: %s", docker_id[:12], error.explanation)


def stop_orphan(api: APIClient, docker_id: str, timeout: int) -> None:
    try:
        api.stop(docker_id, timeout=timeout)
    except NotFound:
        return
    except APIError as error:
        log.warning("Could not stop orphan container %s: %s", docker_id[:12], error.explanation)
    remove(api, docker_id)


def inspect(api: APIClient, docker_id: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = api.inspect_container(docker_id)
    except NotFound:
        return None
    return result


def state(inspect: dict[str, Any] | None) -> str:
    """``created``, ``running``, ``exited``...; "" for no inspect."""
    return str(((inspect or {}).get("State") or {}).get("Status") or "")


def stop_signal(inspect: dict[str, Any]) -> str:
    """The image's (or ``stop-signal`` parameter's) STOPSIGNAL, SIGTERM by default."""
    return str((inspect.get("Config") or {}).get("StopSignal") or "SIGTERM")


def explain(error: DockerException) -> str:
    if isinstance(error, APIError) and error.explanation:
        return str(error.explanation)
    return str(error)
