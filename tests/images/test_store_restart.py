"""The store survives agent restarts: pulled layers are used again without the network,
a layer half unpacked when the agent was killed is unpacked again, damaged records are
moved aside, and one store serves one agent at a time."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from dockyard_mesos.images import ImageError, ImageStore

from tests.docker.registry import Registry
from tests.images import oci
from tests.images.conftest import Pusher, open_store, proxy_credentials
from tests.images.proxy import RegistryProxy

FILES = 3000


def many_files_layer() -> bytes:
    """A layer that takes a while to unpack (many small files): a kill can land inside it."""
    entries = [oci.directory("many")]
    entries += [oci.Entry(f"many/{index}", os.urandom(2048)) for index in range(FILES)]
    return oci.tar_layer(entries)


async def reopen(directory: Path, registry: Registry, proxy: RegistryProxy) -> ImageStore:
    store = open_store(directory, registry, docker_config=proxy_credentials(registry, proxy))
    await store.start()
    return store


async def test_a_restarted_store_needs_no_registry_for_what_it_has(
    tmp_path: Path, image_registry: Registry, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([oci.tar_layer([oci.file("kept", "yes")])], {"Cmd": ["kept"]})
    reference = proxy.reference(push(built))
    first = await reopen(tmp_path / "store", image_registry, proxy)
    pulled = await first.get(reference)
    await first.close()
    proxy.blob_gets.clear()
    await proxy.close()  # the registry is gone

    second = await reopen(tmp_path / "store", image_registry, proxy)
    try:
        again = await second.get(reference)
    finally:
        await second.close()

    assert again == pulled


async def test_a_layer_half_unpacked_by_a_killed_agent_is_unpacked_again(
    tmp_path: Path, image_registry: Registry, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([many_files_layer()])
    reference = proxy.reference(push(built))
    directory = tmp_path / "store"
    config = json.dumps(proxy_credentials(image_registry, proxy))
    script = textwrap.dedent(
        f"""
        import asyncio, json, pathlib
        from dockyard_mesos.images import ImageStore
        async def main():
            store = ImageStore(pathlib.Path({str(directory)!r}),
                               default_registry="http://{image_registry.address}",
                               docker_config=json.loads({config!r}))
            await store.start()
            await store.get({reference!r})
        asyncio.run(main())
        """
    )
    agent = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
    try:
        staging = directory / "staging"
        while not (staging.is_dir() and any(staging.iterdir())):
            assert agent.returncode is None, "the pull ended before it unpacked"
            await asyncio.sleep(0.002)
        agent.send_signal(signal.SIGKILL)
    finally:
        if agent.returncode is None:
            agent.kill()
        await agent.wait()
    layer = built.layer_digests[0]
    assert not (directory / "layers" / layer.removeprefix("sha256:")).exists()
    gets = proxy.blob_gets[layer]

    store = await reopen(directory, image_registry, proxy)
    try:
        image = await store.get(reference)
    finally:
        await store.close()

    assert len(list((image.layers[0] / "many").iterdir())) == FILES
    assert not list((directory / "staging").iterdir())
    assert proxy.blob_gets[layer] == gets  # the downloaded blob was kept and used


async def test_a_damaged_index_is_moved_aside_and_the_image_pulled_again(
    tmp_path: Path, image_registry: Registry, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([oci.tar_layer([oci.file("kept", "yes")])])
    reference = proxy.reference(push(built))
    first = await reopen(tmp_path / "store", image_registry, proxy)
    await first.get(reference)
    await first.close()
    (tmp_path / "store/images.json").write_text('{"images": {"x": ')

    second = await reopen(tmp_path / "store", image_registry, proxy)
    try:
        image = await second.get(reference)
    finally:
        await second.close()

    assert image.digest == built.digest
    assert [
        path.name.endswith("-images.json") for path in (tmp_path / "store/quarantine").iterdir()
    ] == [True]
    assert proxy.blob_gets[built.layer_digests[0]] == 1  # its layer was still there


async def test_one_store_serves_one_agent(store: ImageStore, image_registry: Registry):
    second = open_store(store.directory, image_registry)
    with pytest.raises(ImageError, match="is in use by another agent"):
        await second.start()
    await second.close()
