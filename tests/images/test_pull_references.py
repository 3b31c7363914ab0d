"""Image references, registries and the pull/store flags: Docker's and Mesos's rules, and a
clear error naming the flag or reference for each bad value (pure logic)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dockyard.flags import FlagError, FlagSet
from dockyard_mesos.images.reference import Reference, ReferenceError, Registry
from dockyard_mesos.images.settings import StoreSettings, declare

HUB = Registry.parse("https://registry-1.docker.io")
LOCAL = Registry.parse("http://127.0.0.1:5000")


@pytest.mark.parametrize(
    ("text", "default", "normalised", "url"),
    [
        (
            "busybox",
            HUB,
            "registry-1.docker.io/library/busybox:latest",
            "https://registry-1.docker.io",
        ),
        ("user/app:v1", HUB, "registry-1.docker.io/user/app:v1", "https://registry-1.docker.io"),
        (
            "docker.io/busybox",
            LOCAL,
            "registry-1.docker.io/library/busybox:latest",
            "https://registry-1.docker.io",
        ),
        ("busybox", LOCAL, "127.0.0.1:5000/busybox:latest", "http://127.0.0.1:5000"),
        ("localhost/app", HUB, "localhost/app:latest", "http://localhost"),
        ("[::1]:5000/app:1.0", HUB, "[::1]:5000/app:1.0", "http://[::1]:5000"),
        ("127.1.2.3:80/a/b/c", HUB, "127.1.2.3:80/a/b/c:latest", "http://127.1.2.3:80"),
        ("quay.io/org/app", HUB, "quay.io/org/app:latest", "https://quay.io"),
        (
            f"app@sha256:{'a' * 64}",
            LOCAL,
            f"127.0.0.1:5000/app@sha256:{'a' * 64}",
            "http://127.0.0.1:5000",
        ),
    ],
)
def test_references_are_normalised(text, default, normalised, url):
    reference = Reference.parse(text, default)
    assert str(reference) == normalised
    assert reference.registry.url == url


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Busybox", "not a valid repository name"),
        ("a//b", "not a valid repository name"),
        ("app:", "is not a valid tag"),
        ("app@sha512:abc", "is not a sha256 digest"),
        ("https://host/app", "not a valid image reference"),
        (" app", "not a valid image reference"),
    ],
)
def test_bad_references_say_why(text, reason):
    with pytest.raises(ReferenceError, match=reason):
        Reference.parse(text, HUB)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://registry.example.com", "plain http is only allowed for a registry on loopback"),
        ("http://10.0.0.1:5000", "plain http is only allowed"),
        ("ftp://host", "is not an http(s) registry URL"),
        ("https://host/path", "has a path"),
        ("not a host", "is not a registry host"),
    ],
)
def test_bad_registries_say_why(text, reason):
    with pytest.raises(ReferenceError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        Registry.parse(text)


def settings(*argv: str) -> StoreSettings:
    flags = FlagSet("mesos")
    declare(flags)
    return StoreSettings.from_flags(flags.parse(argv, {}), Path("/work"))


def test_defaults():
    parsed = settings()
    assert parsed.store_dir == Path("/work/store/docker")
    assert parsed.default_registry.url == "https://registry-1.docker.io"
    assert parsed.gc is None
    assert parsed.docker_config is None


def test_gc_config_in_mesos_form():
    parsed = settings(
        '--image_gc_config={"image_disk_headroom": 0.2, "image_disk_watch_interval": '
        '{"nanoseconds": 60000000000}, "excluded_images": [{"type": "DOCKER", '
        '"docker": {"name": "busybox"}}]}'
    )
    assert parsed.gc is not None
    assert parsed.gc.headroom == 0.2
    assert parsed.gc.watch_interval.total_seconds() == 60
    assert parsed.gc.excluded == {"registry-1.docker.io/library/busybox:latest"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ("--docker_registry=http://example.com", "--docker_registry: 'http://example.com': plain"),
        ("--docker_store_dir=relative", "--docker_store_dir: 'relative' is not an absolute path"),
        ("--docker_config=[1]", "--docker_config: expected a JSON object"),
        (
            '--image_gc_config={"image_disk_headroom": 2}',
            "--image_gc_config.image_disk_headroom: expected a number",
        ),
        ('--image_gc_config={"headroom": 0.1}', "--image_gc_config: unknown field(s) headroom"),
        (
            '--image_gc_config={"image_disk_watch_interval": 5}',
            "--image_gc_config.image_disk_watch_interval: expected",
        ),
        (
            '--image_gc_config={"excluded_images": [{"type": "APPC"}]}',
            "--image_gc_config.excluded_images[0]: expected",
        ),
        (
            '--image_gc_config={"excluded_images": [{"type": "DOCKER", "docker": {"name": "A"}}]}',
            "--image_gc_config.excluded_images[0]: 'A': 'A' is not a valid repository name",
        ),
    ],
)
def test_bad_flags_name_the_flag(argv, message):
    with pytest.raises(FlagError) as error:
        settings(argv)
    assert str(error.value).startswith(message)
