"""Pulls from a real registry with htpasswd auth: credentials from the sandbox or the flag,
bad passwords, force pull, and one shared pull for concurrent launches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from docker import APIClient
from docker.errors import ImageNotFound
from dockyard.containers import LaunchError
from dockyard.messages import TaskState
from dockyard_docker.images import PullCoordinator, normalize_reference

from tests.docker.configs import task_config
from tests.docker.conftest import Agents
from tests.docker.images import busybox_rootfs, import_image
from tests.docker.registry import PASSWORD, Registry


def push(api: APIClient, registry: Registry, source: str, repository: str, tag: str) -> str:
    """Push ``source`` as ``<registry>/<repository>:<tag>`` and drop the local copy."""
    target = f"{registry.address}/{repository}"
    api.tag(source, target, tag)
    for line in api.push(target, tag, auth_config=registry.auth_config(), stream=True, decode=True):
        assert "error" not in line, line
    api.remove_image(f"{target}:{tag}")
    return f"{target}:{tag}"


@pytest.fixture(scope="session")
def private_image(docker_api, registry, busybox_image) -> str:
    return push(docker_api, registry, busybox_image, "dockyard-test/private", "v1")


@pytest.fixture
async def pulled(agents: Agents, docker_api: APIClient) -> AsyncIterator[list[str]]:
    """Images a test pulls; after the test's containers, every tag and digest of their
    repositories is removed (an image pulled by digest would otherwise linger untagged)."""
    references: list[str] = []
    yield references
    await agents.close()
    for reference in references:
        repository = reference.rsplit(":", 1)[0]
        for image in docker_api.images(name=repository, all=True):
            for name in (image.get("RepoTags") or []) + (image.get("RepoDigests") or []):
                if name.startswith(f"{repository}:") or name.startswith(f"{repository}@"):
                    with contextlib.suppress(ImageNotFound):
                        docker_api.remove_image(name)


Writer = Callable[[Path, Registry, str], None]


def sandbox_config_json(sandbox: Path, registry: Registry, password: str) -> None:
    (sandbox / ".docker").mkdir(parents=True)
    (sandbox / ".docker" / "config.json").write_text(json.dumps(registry.config_json(password)))


def sandbox_dockercfg(sandbox: Path, registry: Registry, password: str) -> None:
    sandbox.mkdir(parents=True)
    (sandbox / ".dockercfg").write_text(json.dumps(registry.dockercfg(password)))


@pytest.mark.parametrize("write", [sandbox_config_json, sandbox_dockercfg])
async def test_sandbox_credentials_pull_a_private_image(
    agent, registry, private_image, pulled, tmp_path, write: Writer
):
    pulled.append(private_image)
    sandbox = tmp_path / "sandbox"
    write(sandbox, registry, PASSWORD)
    config = task_config(sandbox, private_image, "echo pulled")
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED
    assert (sandbox / "stdout").read_text() == "pulled\n"


@pytest.mark.parametrize("as_file", [False, True])
async def test_docker_config_flag_credentials(
    agents, registry, private_image, pulled, tmp_path, as_file
):
    pulled.append(private_image)
    config_json = json.dumps(registry.config_json())
    if as_file:
        (tmp_path / "config.json").write_text(config_json)
        config_json = f"file://{tmp_path / 'config.json'}"
    agent = await agents.start(f"--docker_config={config_json}")
    config = task_config(tmp_path / "sandbox", private_image, "true")
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED


async def test_wrong_password_fails_without_revealing_it(
    agent, registry, private_image, pulled, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    sandbox = tmp_path / "sandbox"
    sandbox_config_json(sandbox, registry, "wrong-Pa55word")
    config = task_config(sandbox, private_image, "true")
    with pytest.raises(LaunchError, match=f"Failed to pull image '{private_image}'") as failure:
        await agent.plugin.prepare(config)
    assert "wrong-Pa55word" not in str(failure.value)
    assert "wrong-Pa55word" not in caplog.text
    termination = await agent.plugin.destroy(config.container_id, None)
    assert termination is not None


async def test_a_planted_link_lends_no_credentials(
    agent, registry, private_image, pulled, tmp_path
):
    """A link in the sandbox to credentials elsewhere (say, root's) is not followed."""
    pulled.append(private_image)
    elsewhere = tmp_path / "root-home"
    sandbox_config_json(elsewhere, registry, PASSWORD)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / ".docker").symlink_to(elsewhere / ".docker")
    config = task_config(sandbox, private_image, "true")
    with pytest.raises(LaunchError, match=r"'\.docker/config\.json' is or passes through a"):
        await agent.plugin.prepare(config)
    assert await agent.plugin.destroy(config.container_id, None) is not None


async def test_without_credentials_the_pull_fails(agent, private_image, pulled, tmp_path):
    config = task_config(tmp_path, private_image, "true")
    with pytest.raises(LaunchError, match="Failed to pull image"):
        await agent.plugin.prepare(config)


async def test_force_pull_fetches_a_new_image_under_the_same_tag(
    agent, docker_api, registry, test_images, pulled, tmp_path
):
    versions = [
        import_image(docker_api, "dockyard-test/versioned", busybox_rootfs({"version": f"{n}\n"}))
        for n in (1, 2)
    ]
    test_images.extend(versions)
    reference = push(docker_api, registry, versions[0], "dockyard-test/versioned", "latest")
    untagged = reference.removesuffix(":latest")  # no tag means :latest
    pulled.append(reference)

    async def version(force: bool | None, name: str) -> str:
        sandbox = tmp_path / name
        sandbox_config_json(sandbox, registry, PASSWORD)
        config = task_config(sandbox, untagged, "cat /version", force_pull=force)
        await agent.plugin.prepare(config)
        await agent.plugin.launch(config)
        await agent.plugin.wait(config.container_id)
        output: str = (sandbox / "stdout").read_text()
        return output

    assert await version(None, "first") == "1\n"
    push(docker_api, registry, versions[1], "dockyard-test/versioned", "latest")
    docker_api.tag(versions[0], untagged, "latest")  # the old image is still here locally
    assert await version(False, "cached") == "1\n"
    assert await version(True, "forced") == "2\n"


def test_references_without_a_tag_mean_latest() -> None:
    assert normalize_reference("busybox") == "busybox:latest"
    assert normalize_reference("localhost:5000/img") == "localhost:5000/img:latest"
    assert normalize_reference("localhost:5000/img:1") == "localhost:5000/img:1"
    assert normalize_reference("img@sha256:abc") == "img@sha256:abc"


async def test_concurrent_pulls_of_one_image_are_shared_and_cancelled_by_the_last() -> None:
    calls: list[str] = []
    release = asyncio.Event()
    cancelled: list[str] = []

    async def slow_pull(reference: str) -> None:
        calls.append(reference)
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(reference)
            raise

    coordinator = PullCoordinator()

    def waiter(reference: str) -> asyncio.Future[None]:
        return asyncio.ensure_future(coordinator.pull(reference, lambda: slow_pull(reference)))

    waiters = [waiter("img:1") for _ in range(5)]
    other = waiter("img:2")
    abandoned = waiter("img:3")
    await asyncio.sleep(0)
    waiters[0].cancel()  # a destroyed launch leaves the shared pull to the others
    abandoned.cancel()  # the last launch waiting for img:3: its pull is cancelled
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*waiters[1:], other)
    assert calls == ["img:1", "img:2", "img:3"]
    assert cancelled == ["img:3"]


async def test_credential_helpers_are_honoured(
    agents, registry, private_image, pulled, tmp_path, monkeypatch
):
    """``credHelpers`` runs docker-credential-<name>, a real program found on PATH."""
    pulled.append(private_image)
    helpers = tmp_path / "bin"
    helpers.mkdir()
    helper = helpers / "docker-credential-dytest"
    answer = json.dumps({"ServerURL": registry.address, "Username": "dockyard", "Secret": PASSWORD})
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{answer}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helpers}:{os.environ['PATH']}")
    config_json = json.dumps({"credHelpers": {registry.address: "dytest"}})
    agent = await agents.start(f"--docker_config={config_json}")
    config = task_config(tmp_path / "sandbox", private_image, "true")
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED
