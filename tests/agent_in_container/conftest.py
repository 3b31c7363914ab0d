"""The agent image built from the repository's Dockerfile, agents running in containers of
it (host network, the Docker socket and a work_dir mounted), and an operator API client.

Every container these tests create carries the label ``dockyard.test=<this session>`` (task
containers get it from TaskInfo labels) or the ``dockyard.agent_id`` of an agent the test
started; all of them, and the images, are removed at the end even when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from docker import APIClient
from docker.errors import APIError
from dockyard_docker import naming

from tests.agent.recordio import follow_until_state
from tests.docker.images import busybox_rootfs, import_image
from tests.docker_engine import DOCKER_SOCKET, engine_api, remove_containers

from .agent_image import build_agent_image, build_context

SESSION = uuid.uuid4().hex[:10]
TEST_LABEL = "dockyard.test"
TEST_LABEL_VALUE = f"agent-in-container-{SESSION}"
SERVING = re.compile(r"dockyard agent (\S+) serving on (http://\S+)")
LOG_POLL_INTERVAL = 0.1
LOG_POLL_ATTEMPTS = 600


@pytest.fixture(scope="session")
def docker_api() -> Iterator[APIClient]:
    with engine_api(f"{TEST_LABEL}={TEST_LABEL_VALUE}") as api:
        yield api


def remove_image(api: APIClient, reference: str) -> None:
    remove_containers(api, f"{TEST_LABEL}={TEST_LABEL_VALUE}")  # they pin the image
    with contextlib.suppress(APIError):
        api.remove_image(reference, force=True)


@pytest.fixture(scope="session")
def agent_image(
    docker_api: APIClient, debian_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The Dockerfile built once per session, offline, on the local Debian image."""
    context = tmp_path_factory.mktemp("agent-image")
    build_context(context)
    reference = f"dockyard-test/agent:{SESSION}"
    try:
        build_agent_image(docker_api, context, debian_image, reference)
        yield reference
    finally:
        remove_image(docker_api, reference)


@pytest.fixture(scope="session")
def busybox_image(docker_api: APIClient) -> Iterator[str]:
    reference = import_image(docker_api, "dockyard-test/agent-task-busybox", busybox_rootfs())
    try:
        yield reference
    finally:
        remove_image(docker_api, reference)


@dataclass
class AgentContainer:
    """One run of the agent in a container; ``url`` once it serves."""

    docker_id: str
    agent_id: str = ""
    url: str = ""


@dataclass
class AgentContainers:
    """Runs ``dockyard agent`` in containers of the agent image, as an operator would."""

    api: APIClient
    image: str
    agent_ids: set[str] = field(default_factory=set)

    def create(self, mounts: dict[str, str], *flags: str) -> AgentContainer:
        """An agent container (not started) with the Docker socket and ``mounts``
        (host path → container path), on the host network."""
        binds = [
            f"{DOCKER_SOCKET}:{DOCKER_SOCKET}",
            *(f"{host}:{inside}" for host, inside in mounts.items()),
        ]
        created = self.api.create_container(
            self.image,
            command=["--port=0", *flags],
            labels={TEST_LABEL: TEST_LABEL_VALUE},
            host_config=self.api.create_host_config(network_mode="host", binds=binds, init=True),
        )
        return AgentContainer(docker_id=created["Id"])

    async def start(self, mounts: dict[str, str], *flags: str) -> AgentContainer:
        """Start an agent container and wait until its API serves."""
        agent = self.create(mounts, *flags)
        self.api.start(agent.docker_id)
        for _ in range(LOG_POLL_ATTEMPTS):
            found = SERVING.search(self.logs(agent))
            if found is not None:
                agent.agent_id, agent.url = found.groups()
                self.agent_ids.add(agent.agent_id)
                return agent
            if not self.running(agent):
                break
            await asyncio.sleep(LOG_POLL_INTERVAL)
        raise AssertionError("the agent did not start:\n" + self.logs(agent))

    def exit_code(self, agent: AgentContainer) -> int:
        """Wait for the agent container to exit (it is expected to, on its own)."""
        return int(self.api.wait(agent.docker_id, timeout=120)["StatusCode"])

    def logs(self, agent: AgentContainer) -> str:
        return bytes(self.api.logs(agent.docker_id)).decode(errors="replace")

    def running(self, agent: AgentContainer) -> bool:
        return bool(self.api.inspect_container(agent.docker_id)["State"]["Running"])

    def kill(self, agent: AgentContainer) -> None:
        """SIGKILL the agent's container and remove it: nothing of the agent survives."""
        self.api.remove_container(agent.docker_id, force=True)

    def close(self) -> None:
        remove_containers(self.api, f"{TEST_LABEL}={TEST_LABEL_VALUE}")
        for agent_id in self.agent_ids:  # task containers, orphans
            remove_containers(self.api, f"{naming.AGENT_LABEL}={agent_id}")


@pytest.fixture
def agent_containers(docker_api: APIClient, agent_image: str) -> Iterator[AgentContainers]:
    containers = AgentContainers(docker_api, agent_image)
    try:
        yield containers
    finally:
        containers.close()


@dataclass
class Operator:
    """An operator API client (``POST /api/v1``) of one agent."""

    session: aiohttp.ClientSession
    url: str

    async def call(self, body: dict[str, Any]) -> Any:
        async with self.session.post(f"{self.url}/api/v1", json=body) as response:
            text = await response.text()
            assert response.ok, text
            return json.loads(text) if text else None

    async def task(self, task_id: str) -> dict[str, Any] | None:
        tasks = (await self.call({"type": "GET_TASKS"}))["get_tasks"]
        for key in ("launched_tasks", "completed_tasks"):
            for task in tasks.get(key, []):
                if task["task_id"]["value"] == task_id:
                    return dict(task)
        return None

    async def wait_for_state(self, task_id: str, *states: str) -> dict[str, Any]:
        """The task once it is in one of ``states``, followed on the SUBSCRIBE stream."""
        async with asyncio.timeout(120):
            return await follow_until_state(
                self.session, self.url, lambda: self.task(task_id), states
            )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session
