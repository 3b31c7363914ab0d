"""The Engine client that Docker test folders share, and their clean-up by label."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker import APIClient
from docker.errors import APIError

DOCKER_SOCKET = "/var/run/docker.sock"


def remove_containers(api: APIClient, label: str) -> None:
    """Remove every container carrying ``label`` (``key=value``), running or not."""
    for container in api.containers(all=True, filters={"label": label}):
        with contextlib.suppress(APIError):  # NotFound, or a removal already in progress
            api.remove_container(container["Id"], v=True, force=True)


@contextlib.contextmanager
def engine_api(cleanup_label: str | None = None) -> Iterator[APIClient]:
    """A client of the local Engine (the test skips without one); on exit, every
    container labelled ``cleanup_label`` is removed."""
    if not Path(DOCKER_SOCKET).exists():
        pytest.skip(f"no Docker daemon at {DOCKER_SOCKET}")
    api = APIClient(base_url=f"unix://{DOCKER_SOCKET}", version="auto")
    try:
        yield api
    finally:
        if cleanup_label is not None:
            remove_containers(api, cleanup_label)
        api.close()
