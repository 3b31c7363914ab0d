"""The container-logger conformance suite with the ``docker`` containerizer delivering the
output (its log coroutine, which writes and rotates the files itself).

Skipped as ``test_conformance_docker.py`` is: without ``dockyard_docker``, and without a
Docker daemon unless ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence

import pytest
from dockyard.messages import ContainerInfo
from dockyard.testing import docker_container_info
from dockyard.testing.conformance import LoggerConformance

pytest.importorskip("dockyard_docker")

from docker import APIClient
from docker.errors import APIError

from tests.testing.test_conformance_docker import LABEL, docker_api, image  # noqa: F401

LOGROTATE_FLAGS = [
    "--logrotate_max_stdout_size=64KB",
    "--logrotate_max_stderr_size=64KB",
    "--logrotate_max_files=200",
]


class DockerDelivered(LoggerConformance):
    unsupported = {
        "binary": "the Engine's json-file log driver keeps lines as JSON text: bytes that are "
        "not UTF-8 come back as U+FFFD",
    }
    timeout = 120.0
    burst_bytes = 1 << 20

    @pytest.fixture
    def containerizer_name(self) -> str:
        return "docker"

    @pytest.fixture
    def container_info(self, image: str) -> ContainerInfo:  # noqa: F811
        return docker_container_info(image)

    @pytest.fixture
    def task_labels(self, docker_api: APIClient) -> Iterator[Mapping[str, str]]:  # noqa: F811
        """Tag the test's containers, and remove them whatever happens."""
        value = uuid.uuid4().hex
        yield {LABEL: value}
        for container in docker_api.containers(all=True, filters={"label": f"{LABEL}={value}"}):
            with contextlib.suppress(APIError):
                docker_api.remove_container(container["Id"], v=True, force=True)


class TestSandboxLoggerOnDocker(DockerDelivered):
    @pytest.fixture
    def logger_name(self) -> str:
        return "sandbox"

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        return []


class TestLogrotateLoggerOnDocker(DockerDelivered):
    @pytest.fixture
    def logger_name(self) -> str:
        return "logrotate"

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        return LOGROTATE_FLAGS
