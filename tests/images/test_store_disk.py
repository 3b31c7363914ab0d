"""A full or small store disk: the pull fails naming the image and the store, leaves
nothing behind, and the store goes on serving smaller images."""

from __future__ import annotations

from pathlib import Path

import pytest
from dockyard_mesos.images.errors import StoreFull

from tests.docker.registry import Registry
from tests.images import oci
from tests.images.conftest import Pusher, open_store
from tests.small_disk import small_disk

MIB = 1 << 20


def zeros_layer(size: int) -> bytes:
    """A layer that gzip or zstd shrinks to almost nothing: a bomb for a small disk."""
    return oci.tar_layer([oci.Entry("zeros", bytes(size))])


@pytest.mark.root
@pytest.mark.parametrize("compression", ["gzip", "zstd"])
async def test_a_layer_that_unpacks_larger_than_the_disk(
    tmp_path: Path, image_registry: Registry, push: Pusher, compression: oci.Compression
):
    bomb = oci.image([zeros_layer(48 * MIB)], compression=compression)
    assert len(bomb.blobs[bomb.layer_digests[0]]) < MIB
    bomb_ref, small_ref = push(bomb), push(oci.image([oci.tar_layer([oci.file("ok", "1")])]))
    with small_disk(tmp_path / "disk", 80) as disk:
        store = open_store(disk / "store", image_registry)
        await store.start()
        try:
            with pytest.raises(StoreFull) as error:
                await store.get(bomb_ref)
            assert str(error.value).startswith(
                f"Image '{bomb_ref}' layer {bomb.layer_digests[0]}: the image store's file "
                "system is nearly full"
            )
            assert not list((disk / "store/staging").iterdir())
            assert not list((disk / "store/layers").iterdir())

            image = await store.get(small_ref)  # the store goes on
            assert (image.layers[0] / "ok").read_text() == "1"
        finally:
            await store.close()


@pytest.mark.root
async def test_layers_that_do_not_fit_are_not_downloaded(
    tmp_path: Path, image_registry: Registry, push: Pusher
):
    reference = push(oci.image([oci.tar_layer([oci.file("ok", "1")])]))
    with small_disk(tmp_path / "disk", 48) as disk:
        store = open_store(disk / "store", image_registry)
        await store.start()
        try:
            with pytest.raises(StoreFull, match=rf"Failed to pull image '{reference}': its "):
                await store.get(reference)
            assert not list((disk / "store/blobs").iterdir())
        finally:
            await store.close()
