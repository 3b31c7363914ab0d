"""Fixtures for the image tests: a real ``docker-registry`` on loopback with htpasswd auth
(tests/docker's helper), images built and pushed with Python (``oci.py``), and an image
store of the test's own. No Docker daemon is involved."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from dockyard_mesos.images import ImageStore

from tests.docker.registry import Registry, start_registry
from tests.images import oci
from tests.images.proxy import RegistryProxy


@pytest.fixture(scope="session")
def image_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    process, running = start_registry(tmp_path_factory.mktemp("image-registry"))
    try:
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def busybox_layer() -> bytes:
    return oci.busybox_layer()


Pusher = Callable[[oci.Built], str]


@pytest.fixture
def push(image_registry: Registry) -> Pusher:
    """Push an image under a repository of its own; returns its reference."""

    def pushing(built: oci.Built, tag: str = "latest") -> str:
        repository = f"test/{uuid.uuid4().hex[:12]}"
        return oci.push(image_registry.address, repository, tag, built)

    return pushing


def open_store(directory: Path, registry: Registry, **options: object) -> ImageStore:
    options.setdefault("docker_config", registry.config_json())
    return ImageStore(directory, default_registry=f"http://{registry.address}", **options)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path, image_registry: Registry) -> AsyncIterator[ImageStore]:
    opened = open_store(tmp_path / "store", image_registry)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def proxy(image_registry: Registry) -> AsyncIterator[RegistryProxy]:
    running = await RegistryProxy(image_registry).start()
    try:
        yield running
    finally:
        await running.close()


def proxy_credentials(registry: Registry, proxy: RegistryProxy) -> dict[str, object]:
    """A docker config with the registry's credentials filed under the proxy's address."""
    auths: dict[str, object] = registry.config_json()["auths"]  # type: ignore[assignment]
    return {"auths": {proxy.address: auths[registry.address]}}


@pytest.fixture
async def proxied_store(
    tmp_path: Path, image_registry: Registry, proxy: RegistryProxy
) -> AsyncIterator[ImageStore]:
    """A store whose credentials are the registry's, reaching it through ``proxy``."""
    config = proxy_credentials(image_registry, proxy)
    opened = open_store(tmp_path / "store", image_registry, docker_config=config)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()
