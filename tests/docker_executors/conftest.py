"""Fixtures for docker tasks, docker-image executors and health checks, through a real agent.

Each test starts ``dockyard agent`` subprocesses (``make_agent``) with the docker and mesos
containerizers. Every container they create carries the agent's id label; it is removed at
the end of the test, and anything labelled ``dockyard.test=<this session>`` at the end of the
session.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docker import APIClient
from docker.errors import APIError, NotFound
from dockyard_docker import naming

from tests.agent.conftest import RunningAgent, make_agent
from tests.docker.configs import TEST_LABEL
from tests.docker.images import busybox_rootfs, import_image
from tests.docker_engine import engine_api, remove_containers

__all__ = ["make_agent"]  # the real-agent fixture, shared with tests/agent

SESSION_LABEL = f"{TEST_LABEL}=docker-executors-{uuid.uuid4().hex[:8]}"
"""Unique per test process, so parallel workers never remove each other's containers."""

DOCKER_AND_MESOS = "--containerizers=docker,mesos"

StartAgent = Callable[..., Awaitable[RunningAgent]]


@pytest.fixture(scope="session")
def docker_api() -> Iterator[APIClient]:
    with engine_api(SESSION_LABEL) as api:
        yield api


@pytest.fixture(scope="session")
def busybox_image(docker_api: APIClient) -> Iterator[str]:
    """busybox (sh, httpd, nc) imported once per session, removed at its end."""
    reference = import_image(docker_api, "dockyard-test/busybox", busybox_rootfs())
    yield reference
    remove_containers(docker_api, SESSION_LABEL)  # they pin the image
    with contextlib.suppress(NotFound, APIError):
        docker_api.remove_image(reference, force=True)


class AgentContainers:
    """The Docker containers of the agents a test started (found by their agent id)."""

    def __init__(self, api: APIClient, root: Path) -> None:
        self.api = api
        self.root = root

    def agent_ids(self) -> list[str]:
        return [path.read_text().strip() for path in self.root.glob("*/meta/agent_id")]

    def listed(self) -> list[dict[str, Any]]:
        return [
            container
            for agent_id in self.agent_ids()
            for container in self.api.containers(
                all=True, filters={"label": f"{naming.AGENT_LABEL}={agent_id}"}
            )
        ]

    def inspect(self, container_id: str) -> dict[str, Any]:
        """The Engine's view of the container that runs ContainerID ``container_id``."""
        (found,) = [c for c in self.listed() if c["Labels"][naming.CONTAINER_LABEL] == container_id]
        inspected: dict[str, Any] = self.api.inspect_container(found["Id"])
        return inspected

    def remove_all(self) -> None:
        for agent_id in self.agent_ids():
            remove_containers(self.api, f"{naming.AGENT_LABEL}={agent_id}")


@pytest.fixture
def agent_containers(docker_api: APIClient, tmp_path: Path) -> Iterator[AgentContainers]:
    containers = AgentContainers(docker_api, tmp_path)
    yield containers
    containers.remove_all()


@pytest.fixture
def start_agent(agent_containers: AgentContainers, make_agent: StartAgent) -> StartAgent:
    """An agent with ``--containerizers=docker,mesos``; its containers are removed after
    it stops (this fixture's set-up order makes that teardown come last)."""

    async def start(*flags: str, work_dir: Path | None = None) -> RunningAgent:
        return await make_agent(DOCKER_AND_MESOS, *flags, work_dir=work_dir)

    return start
