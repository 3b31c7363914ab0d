"""Pulls from a real registry: every manifest kind, digests checked, credentials and the
token flow, and a clear error naming the image for each way a pull fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dockyard_mesos.images import ImageError, ImageStore
from dockyard_mesos.images.errors import (
    DigestMismatch,
    ImageNotFound,
    RegistryUnavailable,
    Unauthorized,
    UnsupportedImage,
)

from tests.docker.registry import Registry, free_port
from tests.images import oci
from tests.images.conftest import Pusher, open_store
from tests.images.proxy import RegistryProxy

CONFIG = {
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["echo hello"],
    "Env": ["PATH=/bin", "GREETING=hi there"],
    "WorkingDir": "/tmp",
    "User": "nobody",
}


def small_layer(text: str) -> bytes:
    return oci.tar_layer([oci.directory("etc"), oci.file("etc/which", text)])


@pytest.mark.parametrize(
    ("oci_format", "compression"),
    [(False, "gzip"), (True, "gzip"), (True, "none"), (True, "zstd"), (False, ["gzip", "zstd"])],
    ids=["docker-v2", "oci-gzip", "oci-tar", "oci-zstd", "docker-v2-zstd-over-gzip"],
)
async def test_pulls_a_manifest_with_its_layers_and_config(
    store: ImageStore, push: Pusher, oci_format: bool, compression: oci.Compression
):
    built = oci.image(
        [small_layer("base"), small_layer("top")], CONFIG, oci=oci_format, compression=compression
    )
    reference = push(built)

    image = await store.get(reference)

    assert image.reference == reference
    assert image.digest == built.digest
    assert [(layer / "etc/which").read_text() for layer in image.layers] == ["base", "top"]
    assert image.config.entrypoint == ("/bin/sh", "-c")
    assert image.config.cmd == ("echo hello",)
    assert image.config.env == ("PATH=/bin", "GREETING=hi there")
    assert image.config.working_dir == "/tmp"
    assert image.config.user == "nobody"


@pytest.mark.parametrize(
    ("oci_format", "compression"),
    [(False, "gzip"), (True, "gzip"), (True, "zstd")],
    ids=["manifest-list", "oci-index", "oci-index-zstd"],
)
async def test_an_index_gives_the_linux_amd64_manifest(
    store: ImageStore, push: Pusher, oci_format: bool, compression: oci.Compression
):
    arm = oci.image([small_layer("arm64")], oci=oci_format, architecture="arm64")
    amd = oci.image([small_layer("amd64")], oci=oci_format, compression=compression)
    reference = push(oci.index({"linux/arm64": arm, "linux/amd64": amd}, oci=oci_format))

    image = await store.get(reference)

    assert image.digest == amd.digest
    assert (image.layers[0] / "etc/which").read_text() == "amd64"


async def test_an_index_without_this_platform_is_refused(store: ImageStore, push: Pusher):
    arm = oci.image([small_layer("arm64")], architecture="arm64")
    reference = push(oci.index({"linux/arm64": arm}))

    with pytest.raises(UnsupportedImage, match=r"no manifest for linux/amd64.*linux/arm64") as e:
        await store.get(reference)
    assert reference in str(e.value)


async def test_a_pinned_digest_is_pulled_and_checked(store: ImageStore, push: Pusher):
    built = oci.image([small_layer("pinned")])
    reference = push(built)
    pinned = f"{reference.rsplit(':', 1)[0]}@{built.digest}"

    image = await store.get(pinned)

    assert image.digest == built.digest
    other = oci.image([small_layer("other")]).digest
    with pytest.raises(ImageNotFound, match="no such manifest"):
        await store.get(f"{reference.rsplit(':', 1)[0]}@{other}")


async def test_short_names_use_the_default_registry(
    tmp_path: Path, image_registry: Registry, push: Pusher
):
    reference = push(
        oci.image([small_layer("short")]),
    )
    short = reference.split("/", 1)[1]  # test/<id>:latest
    store = open_store(tmp_path / "store", image_registry)
    await store.start()
    try:
        image = await store.get(short.removesuffix(":latest"))
    finally:
        await store.close()
    assert image.reference == reference


async def test_unknown_image_names_the_image(store: ImageStore, image_registry: Registry):
    reference = f"{image_registry.address}/test/never-pushed:v1"
    with pytest.raises(ImageNotFound) as error:
        await store.get(reference)
    assert str(error.value) == (
        f"Failed to pull image '{reference}': the registry has no such manifest (404)"
    )


async def test_a_layer_that_does_not_match_its_digest_fails_the_pull(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([small_layer("corrupt")])
    reference = proxy.reference(push(built))
    proxy.corrupt.add(built.layer_digests[0])

    with pytest.raises(DigestMismatch, match=f"blob {built.layer_digests[0]} does not match"):
        await proxied_store.get(reference)
    assert not list((proxied_store.directory / "layers").iterdir())
    assert not list((proxied_store.directory / "blobs").iterdir())  # not resumed from junk


async def test_a_manifest_that_does_not_match_its_digest_fails_the_pull(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    built = oci.image([small_layer("manifest")])
    pushed = push(built)
    # Push other content under the digest's name: only a digest check can tell.
    proxy.corrupt.add(built.digest)
    pinned = f"{proxy.reference(pushed).rsplit(':', 1)[0]}@{built.digest}"

    with pytest.raises(DigestMismatch, match="the manifest's digest is"):
        await proxied_store.get(pinned)


async def test_wrong_credentials_fail_with_a_clear_error(
    tmp_path: Path, image_registry: Registry, push: Pusher
):
    reference = push(oci.image([small_layer("secret")]))
    store = open_store(
        tmp_path / "store", image_registry, docker_config=image_registry.config_json("wrong")
    )
    await store.start()
    try:
        with pytest.raises(Unauthorized) as error:
            await store.get(reference)
    finally:
        await store.close()
    assert str(error.value) == (
        f"Failed to pull image '{reference}': the registry denied access (401): "
        "credentials were refused (--docker_config)"
    )
    assert "wrong" not in str(error.value)


async def test_no_credentials_for_a_registry_that_wants_them(
    tmp_path: Path, image_registry: Registry, push: Pusher
):
    reference = push(oci.image([small_layer("secret")]))
    store = open_store(tmp_path / "store", image_registry, docker_config=None)
    await store.start()
    try:
        with pytest.raises(Unauthorized, match="--docker_config has none for it"):
            await store.get(reference)
    finally:
        await store.close()


async def test_the_token_flow(proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher):
    proxy.token_auth = True
    built = oci.image([small_layer("a"), small_layer("b")])
    reference = proxy.reference(push(built))

    image = await proxied_store.get(reference)

    assert image.digest == built.digest
    assert proxy.token_requests == 1  # one token serves the manifest and every blob


async def test_the_token_server_refusing_the_credentials(
    tmp_path: Path, image_registry: Registry, proxy: RegistryProxy, push: Pusher
):
    proxy.token_auth = True
    reference = proxy.reference(push(oci.image([small_layer("t")])))
    config = {"auths": {proxy.address: {"auth": "ZG9ja3lhcmQ6d3Jvbmc="}}}  # dockyard:wrong
    store = open_store(tmp_path / "store", image_registry, docker_config=config)
    await store.start()
    try:
        with pytest.raises(Unauthorized, match="the token server refused the credentials"):
            await store.get(reference)
    finally:
        await store.close()


async def test_credentials_never_go_to_a_plain_http_realm_off_loopback(
    proxied_store: ImageStore, proxy: RegistryProxy, push: Pusher
):
    proxy.token_auth = True
    proxy.token_realm = "http://auth.example.com/token"
    reference = proxy.reference(push(oci.image([small_layer("realm")])))

    with pytest.raises(Unauthorized, match=r"token realm 'http://auth\.example\.com/token' is not"):
        await proxied_store.get(reference)


async def test_a_registry_that_is_down(store: ImageStore):
    reference = f"127.0.0.1:{free_port()}/test/app:v1"
    with pytest.raises(RegistryUnavailable, match=f"Failed to pull image '{reference}': cannot"):
        await store.get(reference)


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+bzip2",
    ],
)
async def test_unsupported_layer_media_type(store: ImageStore, push: Pusher, media_type: str):
    built = oci.image([small_layer("unsupported")], oci=True)
    document = json.loads(built.manifest)
    document["layers"][0]["mediaType"] = media_type
    built.manifest = json.dumps(document).encode()
    reference = push(built)

    with pytest.raises(UnsupportedImage) as error:
        await store.get(reference)
    assert str(error.value) == (
        f"Failed to pull image '{reference}': unsupported layer media type '{media_type}' "
        "(supported: gzip, zstd or uncompressed tar layers)"
    )


async def test_progress_reaches_the_listener(store: ImageStore, push: Pusher, busybox_layer):
    reference = push(oci.image([busybox_layer]))
    lines: list[str] = []

    await store.get(reference, progress=lines.append)

    assert lines[-1].startswith(f"{reference}  ")
    assert lines[-1].endswith("100%\n")


@pytest.mark.parametrize(
    "bad", ["", "UPPER/case", "a/../b", "name:bad tag", "x@sha256:short", "http://host/x"]
)
async def test_invalid_references_are_refused(store: ImageStore, bad: str):
    with pytest.raises(ImageError, match="Invalid image reference"):
        await store.get(bad)


@pytest.mark.slow
async def test_a_debian_image_with_python(store: ImageStore, debian_image: str):
    image = await store.get(debian_image)

    root = image.layers[0]
    assert (root / "usr/bin").is_dir()
    assert any(path.name.startswith("python3") for path in (root / "usr/bin").iterdir())
    assert image.config.env[0].startswith("PATH=/usr/local/sbin")
