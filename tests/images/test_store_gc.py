"""Image garbage collection removes what no container holds, never a held layer, never a
layer of a pull in flight; holds survive restarts; Mesos's --image_gc_config runs it when
the store's disk is short of its headroom."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from dockyard_mesos.images import ImageStore
from dockyard_mesos.images.reference import Registry as RegistryAddress
from dockyard_mesos.images.settings import GcConfig

from tests.docker.registry import Registry
from tests.images import oci
from tests.images.conftest import Pusher, open_store
from tests.images.proxy import RegistryProxy

BASE = oci.tar_layer([oci.file("base", "shared")])


def layer_names(store: ImageStore) -> set[str]:
    return {f"sha256:{path.name}" for path in (store.directory / "layers").iterdir()}


async def test_held_images_stay_and_the_rest_goes(store: ImageStore, push: Pusher):
    held = oci.image([BASE, oci.tar_layer([oci.file("held", "1")])])
    loose = oci.image([BASE, oci.tar_layer([oci.file("loose", "1")])])
    held_ref, loose_ref = push(held), push(loose)
    await store.get(held_ref, holder="container-1")
    await store.get(loose_ref)

    collected = await store.collect_garbage()

    assert collected.images == (loose_ref,)
    assert collected.layers == (loose.layer_digests[1],)
    assert layer_names(store) == set(held.layer_digests)  # the shared base stays
    assert (await store.get(held_ref)).digest == held.digest

    await store.release("container-1")
    collected = await store.collect_garbage()

    assert collected.images == (held_ref,)
    assert layer_names(store) == set()


async def test_holds_survive_a_restart(tmp_path: Path, image_registry: Registry, push: Pusher):
    built = oci.image([BASE])
    reference = push(built)
    first = open_store(tmp_path / "store", image_registry)
    await first.start()
    await first.get(reference, holder="container-1")
    await first.close()

    second = open_store(tmp_path / "store", image_registry)
    await second.start()
    try:
        collected = await second.collect_garbage()
        assert second.held() == {"container-1": tuple(built.layer_digests)}
    finally:
        await second.close()

    assert collected.layers == ()
    assert layer_names(second) == set(built.layer_digests)


async def test_a_damaged_hold_stops_collection(store: ImageStore, push: Pusher, tmp_path: Path):
    built = oci.image([BASE])
    await store.get(push(built), holder="container-1")
    (store.directory / "holds/container-1.json").write_text("{")
    await store.close()
    await store.start()

    collected = await store.collect_garbage()

    assert collected.layers == ()
    assert layer_names(store) == set(built.layer_digests)


async def test_excluded_and_kept_images_stay(
    tmp_path: Path, image_registry: Registry, push: Pusher
):
    excluded = oci.image([oci.tar_layer([oci.file("excluded", "1")])])
    kept = oci.image([oci.tar_layer([oci.file("kept", "1")])])
    excluded_ref, kept_ref = push(excluded), push(kept)
    registry = RegistryAddress.parse(f"http://{image_registry.address}")
    config = GcConfig.parse(
        {"excluded_images": [{"type": "DOCKER", "docker": {"name": excluded_ref}}]}, registry
    )
    store = open_store(tmp_path / "store", image_registry, gc=config)
    await store.start()
    try:
        await store.get(excluded_ref)
        await store.get(kept_ref)
        collected = await store.collect_garbage(keep=[kept_ref])
    finally:
        await store.close()

    assert collected.images == ()
    assert layer_names(store) == {*excluded.layer_digests, *kept.layer_digests}


async def test_a_pull_in_flight_keeps_its_layers(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([BASE, oci.tar_layer([oci.file("slow", "1")])])
    reference = proxy.reference(push(built))
    await proxied_store.get(proxy.reference(push(oci.image([BASE]))))  # the base is in
    gate = proxy.gate[built.layer_digests[1]] = asyncio.Event()
    pulling = asyncio.create_task(proxied_store.get(reference))
    while not proxy.blob_gets[built.layer_digests[1]]:  # noqa: ASYNC110
        await asyncio.sleep(0.01)

    await proxied_store.collect_garbage()
    gate.set()
    image = await pulling

    assert all(layer.is_dir() for layer in image.layers)


async def test_automatic_collection_when_the_disk_is_short_of_headroom(
    tmp_path: Path, image_registry: Registry, push: Pusher
):
    built = oci.image([oci.tar_layer([oci.file("doomed", "1")])])
    reference = push(built)
    always = GcConfig(headroom=1.0, watch_interval=timedelta(milliseconds=20), excluded=frozenset())
    store = open_store(tmp_path / "store", image_registry, gc=always)
    await store.start()
    try:
        await store.get(reference)
        while layer_names(store):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert store.metrics["gc_layers_removed"] == 1
    finally:
        await store.close()
