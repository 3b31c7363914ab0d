"""Images for the run tests, built as layer directories (no registry, no Docker daemon),
and an image source that serves them to the mesos plugin as its store would."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
APPLETS = (
    "sh", "echo", "cat", "ls", "sleep", "id", "env", "pwd", "test", "touch", "mkdir",
    "hostname", "dd", "true", "false", "rm", "readlink", "mknod", "mount",
)  # fmt: skip
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nextra:x:2000:app\n"
IMAGE_FLAGS = ("--image_providers=docker", "--isolation=filesystem/linux,docker/runtime")


@dataclass(frozen=True)
class Config:
    """What ``dockyard_mesos.images.ImageConfig`` holds."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class LayeredImage:
    """What ``dockyard_mesos.images.Image`` holds."""

    reference: str
    layers: tuple[Path, ...]
    config: Config = field(default_factory=Config)
    digest: str = "sha256:" + "0" * 64


class LayerSource:
    """Serves images by reference; records holds and releases like the real store."""

    def __init__(self) -> None:
        self.images: dict[str, LayeredImage] = {}
        self.held: dict[str, str] = {}

    def add(self, image: LayeredImage) -> LayeredImage:
        self.images[image.reference] = image
        return image

    async def get(
        self,
        reference: str,
        *,
        force_pull: bool = False,
        progress: Callable[[str], None] | None = None,
        holder: str | None = None,
    ) -> LayeredImage:
        if reference not in self.images:
            raise LookupError(f"Failed to pull image '{reference}': not found")
        if holder is not None:
            self.held[holder] = reference
        return self.images[reference]

    async def release(self, container_id: str) -> None:
        self.held.pop(container_id, None)


def busybox_layer_dir(directory: Path) -> Path:
    """A root file system with busybox-static, its applets and an ``app`` user."""
    (directory / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, directory / "bin" / "busybox")
    for applet in APPLETS:
        (directory / "bin" / applet).symlink_to("busybox")
    (directory / "etc").mkdir()
    (directory / "etc" / "passwd").write_text(PASSWD)
    (directory / "etc" / "group").write_text(GROUP)
    (directory / "etc" / "image-marker").write_text("from the image\n")
    for name in ("tmp", "home/app", "proc", "sys", "dev"):
        (directory / name).mkdir(parents=True, exist_ok=True)
    os.chown(directory / "home" / "app", 1000, 1000)
    (directory / "tmp").chmod(0o1777)
    return directory


def files_layer(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


def overlay_whiteout(layer: Path, relative: str) -> None:
    """Delete ``relative`` from the layers below, the way overlayfs marks it."""
    path = layer / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def overlay_opaque(layer: Path, relative: str) -> None:
    """Hide what the layers below have in directory ``relative``."""
    path = layer / relative
    path.mkdir(parents=True, exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def mounts_below(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [point for point in points if point.startswith(prefix)]


def unmount_below(path: Path) -> None:
    """Detach what a failed test left mounted (a root file system of a killed agent)."""
    for point in sorted(mounts_below(path), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
