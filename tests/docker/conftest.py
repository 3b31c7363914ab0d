"""Fixtures for the docker containerizer tests: the real Engine, local images, a registry.

Every container a test creates carries the label ``dockyard.test=docker-plugin-<session>`` (the
plugin copies TaskInfo labels onto the container) and is removed at the end of the test
or, failing that, of the session; every image and the registry are removed too.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from docker import APIClient
from docker.errors import APIError, NotFound
from dockyard.containers import AgentContext
from dockyard.flags import FlagSet
from dockyard_docker import naming
from dockyard_docker.plugin import DockerContainerizer

from tests.docker.configs import TEST_LABEL, TEST_LABEL_VALUE
from tests.docker.images import busybox_rootfs, import_image
from tests.docker.registry import Registry, start_registry
from tests.docker_engine import engine_api, remove_containers

TEST_REPOSITORY = "dockyard-test/busybox"


@pytest.fixture(scope="session")
def docker_api() -> Iterator[APIClient]:
    with engine_api(f"{TEST_LABEL}={TEST_LABEL_VALUE}") as api:
        yield api


@pytest.fixture(scope="session")
def test_images(docker_api: APIClient) -> Iterator[list[str]]:
    """References of images the session created; all removed at the end."""
    created: list[str] = []
    yield created
    remove_containers(docker_api, f"{TEST_LABEL}={TEST_LABEL_VALUE}")  # they pin the images
    for reference in reversed(created):
        with contextlib.suppress(NotFound, APIError):
            docker_api.remove_image(reference, force=True)


@pytest.fixture(scope="session")
def rootfs() -> bytes:
    return busybox_rootfs()


@pytest.fixture(scope="session")
def busybox_image(docker_api: APIClient, test_images: list[str], rootfs: bytes) -> str:
    reference = import_image(docker_api, TEST_REPOSITORY, rootfs)
    test_images.append(reference)
    return reference


@pytest.fixture(scope="session")
def echo_image(docker_api: APIClient, test_images: list[str], rootfs: bytes) -> str:
    """ENTRYPOINT echo, CMD inky: the image of Mesos's command-rule tests."""
    reference = import_image(
        docker_api, TEST_REPOSITORY, rootfs, ['ENTRYPOINT ["echo"]', 'CMD ["inky"]']
    )
    test_images.append(reference)
    return reference


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    process, running = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Agent:
    plugin: DockerContainerizer
    agent_id: str
    state_dir: Path


class Agents:
    """Starts plugin instances as an agent would; a new instance on the same state dir
    and agent id is an agent restart."""

    def __init__(self, work_dir: Path, api: APIClient) -> None:
        self.work_dir = work_dir
        self.api = api
        self.running: list[Agent] = []
        self.agent_ids: set[str] = set()

    async def start(self, *argv: str, agent_id: str | None = None) -> Agent:
        agent_id = agent_id or f"test-{uuid.uuid4().hex[:12]}"
        self.agent_ids.add(agent_id)
        plugin = DockerContainerizer()
        flags = FlagSet()
        plugin.add_flags(flags)
        state_dir = self.work_dir / "meta" / agent_id / "docker"
        context = AgentContext(
            flags=flags.parse(list(argv), {}),
            agent_id=agent_id,
            work_dir=self.work_dir,
            state_dir=state_dir,
        )
        await plugin.start(context)
        agent = Agent(plugin, agent_id, state_dir)
        self.running.append(agent)
        return agent

    async def stop(self, agent: Agent) -> None:
        self.running.remove(agent)
        await agent.plugin.stop()

    async def close(self) -> None:
        for agent in list(self.running):
            await self.stop(agent)
        for agent_id in self.agent_ids:
            remove_containers(self.api, f"{naming.AGENT_LABEL}={agent_id}")


@pytest.fixture
async def agents(tmp_path: Path, docker_api: APIClient) -> AsyncIterator[Agents]:
    started = Agents(tmp_path / "work", docker_api)
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
async def agent(agents: Agents) -> Agent:
    return await agents.start()
