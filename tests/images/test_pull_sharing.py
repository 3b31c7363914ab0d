"""Concurrent pulls share their downloads, and an interrupted download continues where it
stopped (HTTP Range), in the same pull or after a restart. Counted at a proxy in front of
the real registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dockyard_mesos.images import ImageStore
from dockyard_mesos.images.errors import RegistryUnavailable

from tests.docker.registry import Registry
from tests.images import oci
from tests.images.conftest import Pusher, open_store, proxy_credentials
from tests.images.proxy import RegistryProxy


def layer(text: str, size: int = 256 * 1024) -> bytes:
    """A layer of ``size`` incompressible bytes, so cutting it half-way means something."""
    import random

    data = random.Random(text).randbytes(size)
    return oci.tar_layer([oci.directory("data"), oci.Entry(f"data/{text}", data)])


async def test_concurrent_gets_of_one_image_download_each_blob_once(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([layer("base"), layer("top")])
    reference = proxy.reference(push(built))

    images = await asyncio.gather(*(proxied_store.get(reference) for _ in range(8)))

    assert {image.digest for image in images} == {built.digest}
    assert all(image.layers == images[0].layers for image in images)
    assert {digest: proxy.blob_gets[digest] for digest in built.blobs} == dict.fromkeys(
        built.blobs, 1
    )


async def test_images_sharing_a_layer_download_it_once(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    base = layer("shared-base")
    first = oci.image([base, layer("first")])
    second = oci.image([base, layer("second")])
    references = [proxy.reference(push(first)), proxy.reference(push(second))]

    one, two = await asyncio.gather(*(proxied_store.get(ref) for ref in references))

    assert one.layers[0] == two.layers[0]
    assert proxy.blob_gets[first.layer_digests[0]] == 1
    assert proxy.blob_gets[first.layer_digests[1]] == proxy.blob_gets[second.layer_digests[1]] == 1


async def test_a_waiter_that_goes_away_leaves_the_pull_to_the_others(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([layer("gated")])
    reference = proxy.reference(push(built))
    gate = proxy.gate[built.layer_digests[0]] = asyncio.Event()
    leaving = asyncio.create_task(proxied_store.get(reference))
    staying = asyncio.create_task(proxied_store.get(reference))
    while not proxy.blob_gets[built.layer_digests[0]]:  # noqa: ASYNC110
        await asyncio.sleep(0.01)

    leaving.cancel()
    gate.set()

    assert (await staying).digest == built.digest
    assert leaving.cancelled()
    assert proxy.blob_gets[built.layer_digests[0]] == 1


async def test_an_interrupted_download_continues_with_a_range_request(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([layer("interrupted")])
    blob = built.layer_digests[0]
    reference = proxy.reference(push(built))
    proxy.cut_after[blob] = 100_000

    image = await proxied_store.get(reference)

    assert image.digest == built.digest
    assert proxy.ranges == [(blob, "bytes=100000-")]
    assert proxy.blob_bytes[blob] == len(built.blobs[blob])  # nothing downloaded twice


async def test_a_download_continues_after_a_restart(
    tmp_path: Path, image_registry: Registry, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([layer("restarted")])
    blob = built.layer_digests[0]
    reference = proxy.reference(push(built))
    config = proxy_credentials(image_registry, proxy)
    proxy.cut_after[blob] = 150_000
    proxy.unavailable.add(blob)  # the retries all fail: the pull gives up
    first = open_store(tmp_path / "store", image_registry, docker_config=config)
    await first.start()
    try:
        with pytest.raises(RegistryUnavailable, match=f"Failed to pull image '{reference}'"):
            await first.get(reference)
    finally:
        await first.close()
    proxy.unavailable.clear()

    second = open_store(tmp_path / "store", image_registry, docker_config=config)
    await second.start()
    try:
        image = await second.get(reference)
    finally:
        await second.close()

    assert image.digest == built.digest
    assert proxy.ranges[-1] == (blob, "bytes=150000-")
    assert proxy.blob_bytes[blob] == len(built.blobs[blob])
