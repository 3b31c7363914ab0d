"""Layers are unpacked in overlayfs form (whiteouts as 0/0 devices, opaque directories by
xattr), and a hostile layer is refused with an error that names it, leaving nothing behind."""

from __future__ import annotations

import asyncio
import os
import random
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from dockyard_mesos.images import ImageStore
from dockyard_mesos.images.errors import HostileLayer, ImageError

from tests.images import oci
from tests.images.conftest import Pusher

BASE = oci.tar_layer(
    [
        oci.directory("etc"),
        oci.file("etc/deleted", "gone"),
        oci.file("etc/kept", "kept"),
        oci.directory("www"),
        oci.file("www/old", "hidden by the opaque directory"),
        oci.directory("www/sub"),
        oci.file("www/sub/deep", "also hidden"),
    ]
)
TOP = oci.tar_layer(
    [
        oci.whiteout("etc/deleted"),
        oci.opaque("www"),
        oci.file("www/new", "new"),
        oci.symlink("etc/absolute", "/etc/kept"),
    ]
)


@pytest.mark.parametrize("top_compression", ["gzip", "zstd"])
async def test_whiteouts_and_opaque_directories_in_overlayfs_form(
    store: ImageStore, push: Pusher, top_compression: oci.Compression
):
    image = await store.get(push(oci.image([BASE, TOP], compression=["gzip", top_compression])))
    top = image.layers[1]

    deleted = os.lstat(top / "etc/deleted")
    assert stat.S_ISCHR(deleted.st_mode)
    assert deleted.st_rdev == os.makedev(0, 0)
    assert os.getxattr(top / "www", "trusted.overlay.opaque") == b"y"
    assert (top / "www/new").read_text() == "new"
    assert not (top / "www/.wh..wh..opq").exists()
    assert os.readlink(top / "etc/absolute") == "/etc/kept"  # kept as written


@pytest.mark.root
async def test_the_layers_mount_as_overlayfs_lower_directories(
    store: ImageStore, push: Pusher, tmp_path: Path
):
    image = await store.get(push(oci.image([BASE, TOP])))
    lower = ":".join(str(layer) for layer in reversed(image.layers))
    target = tmp_path / "root"
    target.mkdir()
    command = f'mount -t overlay overlay -o "lowerdir={lower}" "{target}" && cd "{target}"'
    listing = await asyncio.to_thread(
        subprocess.run,
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{command} && find ."],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [".", "./etc", "./etc/absolute", "./etc/kept", "./www", "./www/new"]
    assert sorted(listing.stdout.split()) == expected


def hostile(*entries: oci.Entry) -> bytes:
    return oci.tar_layer([oci.directory("etc"), oci.file("etc/fine", "fine"), *entries])


HOSTILE = {
    "dot-dot": (hostile(oci.file("../../../../escaped", "x")), "goes up with '..'"),
    "absolute": (hostile(oci.file("/escaped", "x")), "is an absolute path"),
    "through-absolute-link": (
        hostile(oci.symlink("root", "/"), oci.file("root/escaped", "x")),
        "is written through a symbolic link",
    ),
    "through-relative-link": (
        hostile(oci.symlink("up", "../../../.."), oci.file("up/escaped", "x")),
        "is written through a symbolic link",
    ),
    "hardlink-absolute": (hostile(oci.hardlink("passwd", "/etc/passwd")), "absolute path"),
    "hardlink-up": (hostile(oci.hardlink("passwd", "../../etc/passwd")), "goes up with '..'"),
    "hardlink-through-link": (
        hostile(oci.symlink("host", "/etc"), oci.hardlink("passwd", "host/passwd")),
        "not a regular file of this layer",
    ),
    "hardlink-to-link": (
        hostile(oci.symlink("shadow", "/etc/shadow"), oci.hardlink("copy", "shadow")),
        "not a regular file of this layer",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_layer_is_refused(
    store: ImageStore, push: Pusher, tmp_path: Path, case: str
):
    layer, reason = HOSTILE[case]
    built = oci.image([oci.busybox_layer(), layer])
    reference = push(built)

    with pytest.raises(HostileLayer) as error:
        await store.get(reference)

    message = str(error.value)
    assert message.startswith(f"Image '{reference}' layer {built.layer_digests[1]}: layer")
    assert reason in message
    assert_left_nothing(store, built.layer_digests[1], tmp_path)


def assert_left_nothing(store: ImageStore, layer: str, tmp_path: Path) -> None:
    assert not (tmp_path / "escaped").exists()
    assert not Path("/escaped").exists()
    layers = {path.name for path in (store.directory / "layers").iterdir()}
    assert layer.removeprefix("sha256:") not in layers
    assert not list((store.directory / "staging").iterdir())


async def test_device_nodes_are_not_created(store: ImageStore, push: Pusher):
    device = oci.Entry("etc/null", kind=tarfile.CHRTYPE)
    image = await store.get(push(oci.image([hostile(device)])))

    assert not os.path.lexists(image.layers[0] / "etc/null")  # noqa: ASYNC240
    assert (image.layers[0] / "etc/fine").read_text() == "fine"


async def test_hard_links_inside_the_layer_are_kept(store: ImageStore, push: Pusher):
    layer = hostile(oci.hardlink("etc/again", "etc/fine"))
    image = await store.get(push(oci.image([layer])))

    assert (
        os.stat(image.layers[0] / "etc/again").st_ino
        == os.stat(image.layers[0] / "etc/fine").st_ino
    )


async def test_owner_mode_and_setuid_bits_are_kept(store: ImageStore, push: Pusher):
    entry = oci.Entry("etc/tool", b"#!/bin/sh\n", mode=0o4755, owner=(1000, 50))
    image = await store.get(push(oci.image([hostile(entry)])))
    status = os.stat(image.layers[0] / "etc/tool")
    assert stat.S_IMODE(status.st_mode) == 0o4755
    assert (status.st_uid, status.st_gid) == (1000, 50)
    assert status.st_mtime == 1_700_000_000


NOISE = oci.tar_layer(
    [
        oci.directory("etc"),
        oci.Entry("etc/noise", random.Random(7).randbytes(256 << 10)),  # stored, not shrunk
        oci.file("etc/last", "last"),
    ]
)


ZSTD, GZIP = oci.COMPRESSORS["zstd"], oci.COMPRESSORS["gzip"]
CORRUPT: dict[str, tuple[oci.Compression, bytes, str]] = {
    "zstd-cut-in-half": (
        "zstd",
        ZSTD(NOISE)[: len(ZSTD(NOISE)) // 2],
        "the layer is truncated (Compressed file ended before the end-of-stream marker",
    ),
    "zstd-cut-between-frames": (
        "zstd",
        oci.zstd_cut_between_frames(NOISE),
        "the layer is truncated (Compressed file ended before the end-of-stream marker",
    ),
    "zstd-garbage": (
        "zstd",
        b"\x28\xb5\x2f\xfd" + random.Random(8).randbytes(4096),
        "the layer's zstd data cannot be decompressed (",
    ),
    "zstd-labelled-gzip-data": (
        "zstd",
        GZIP(NOISE),
        "the layer's zstd data cannot be decompressed (",
    ),
    "zstd-window-over-128-mib": (
        "zstd",
        oci.zstd_stream(NOISE, window_log=28),
        "Frame requires too much memory for decoding",
    ),
    "gzip-cut-in-half": (
        "gzip",
        GZIP(NOISE)[: len(GZIP(NOISE)) // 2],
        "the layer is not a valid tar archive (unexpected end of data)",
    ),
    "gzip-garbage": (
        "gzip",
        b"\x1f\x8b" + random.Random(8).randbytes(4096),
        "the layer is not a valid tar archive (",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
async def test_a_corrupt_compressed_layer_fails_the_pull_and_leaves_nothing(
    store: ImageStore, push: Pusher, tmp_path: Path, case: str
):
    compression, blob, reason = CORRUPT[case]
    built = oci.with_layer_blob(oci.image([BASE, NOISE], compression=compression), 1, blob)
    reference = push(built)

    with pytest.raises(ImageError) as error:
        await store.get(reference)

    assert str(error.value).startswith(f"Image '{reference}' layer {built.layer_digests[1]}: ")
    assert reason in str(error.value)
    assert_left_nothing(store, built.layer_digests[1], tmp_path)
    good = await store.get(push(oci.image([BASE, NOISE], compression=compression)))
    assert (good.layers[1] / "etc/last").read_text() == "last"  # the store goes on
