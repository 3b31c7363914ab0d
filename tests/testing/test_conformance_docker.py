"""The containerizer conformance suite against the built-in ``docker`` plugin.

Skipped when ``dockyard_docker`` is not installed, and when no Docker daemon answers
unless ``CI`` is set (CI has a daemon: its absence must fail there, not skip). The
image is a busybox-static root file system imported locally, removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence

import pytest
from dockyard.messages import CommandInfo, ContainerInfo
from dockyard.testing import docker_container_info
from dockyard.testing.conformance import ContainerizerConformance

pytest.importorskip("dockyard_docker")

from docker import APIClient
from docker.errors import APIError, DockerException

from tests.docker.images import busybox_rootfs, import_image

SOCKET = "unix:///var/run/docker.sock"
LABEL = "dockyard.conformance"
REPOSITORY = "dockyard-conformance/busybox"


@pytest.fixture(scope="module")
def docker_api() -> Iterator[APIClient]:
    try:
        api = APIClient(base_url=SOCKET, version="auto")
        api.ping()
    except DockerException as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Docker daemon at {SOCKET}: {error}")
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module")
def image(docker_api: APIClient) -> Iterator[str]:
    reference = import_image(docker_api, REPOSITORY, busybox_rootfs())
    try:
        yield reference
    finally:
        with contextlib.suppress(APIError):
            docker_api.remove_image(reference, force=True)


class TestDockerContainerizer(ContainerizerConformance):
    unsupported = {
        "agent_environment": "Mesos's docker containerizer gives a task container only "
        "CommandInfo.environment and MESOS_SANDBOX/MESOS_CONTAINER_NAME",
    }
    timeout = 60.0

    @pytest.fixture
    def entry_point_name(self) -> str:
        return "docker"

    @pytest.fixture
    def container_info(self, image: str) -> ContainerInfo:
        return docker_container_info(image)

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        return ["--docker_remove_delay=0secs"]

    @pytest.fixture
    def task_labels(self, docker_api: APIClient) -> Iterator[Mapping[str, str]]:
        """Tag the test's containers, and remove them whatever happens."""
        value = uuid.uuid4().hex
        yield {LABEL: value}
        for container in docker_api.containers(all=True, filters={"label": f"{LABEL}={value}"}):
            with contextlib.suppress(APIError):
                docker_api.remove_container(container["Id"], v=True, force=True)

    def argv_command(self, argv: Sequence[str]) -> CommandInfo:
        """Docker's rule: the image entrypoint stays, and the command is value + arguments."""
        return CommandInfo(shell=False, value=argv[0], arguments=list(argv[1:]))

    def self_kill_command(self) -> str:
        return "sh -c 'kill -KILL $$'; exit $?"  # not exec'd: the shell is not PID 1
