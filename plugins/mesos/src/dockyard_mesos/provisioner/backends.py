"""The ``overlay`` and ``copy`` backends: build ``<container dir>/rootfs``, and remove it.

Everything lives in the container's directory (``rootfs/``, and for overlay ``upper/``,
``work/`` and ``l/``, short links to the layers so that any number of layers fits in the
kernel's one-page limit on mount options), so removing the container removes it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

from dockyard_mesos.provisioner import whiteouts

log = logging.getLogger(__name__)

Backend = str
BACKENDS = ("overlay", "copy")
ROOTFS = "rootfs"
MNT_DETACH = 2
_LIBC = ctypes.CDLL(None, use_errno=True)


class ProvisionError(Exception):
    """A root file system could not be built or removed; the message says why."""


def choose_backend(requested: str | None, scratch: Path) -> Backend:
    """The backend to use: the one asked for, or overlay where it mounts, else copy."""
    if requested == "copy":
        return "copy"
    problem = overlay_problem(scratch)
    if problem is None:
        return "overlay"
    if requested == "overlay":
        raise ProvisionError(
            f"--image_provisioner_backend=overlay: overlay cannot be mounted here ({problem})"
        )
    log.warning(
        "overlay cannot be mounted here (%s): container images use the copy backend", problem
    )
    return "copy"


def overlay_problem(scratch: Path) -> str | None:
    """Why an overlay cannot be mounted in ``scratch`` (on its file system), or None."""
    probe = scratch / f".overlay-probe-{os.getpid()}"
    try:
        (probe / "lower").mkdir(parents=True)
        for name in ("upper", "work", ROOTFS):
            (probe / name).mkdir()
        _mount_overlay(probe, ["lower"])
        _unmount(probe / ROOTFS)
        return None
    except (OSError, ProvisionError) as error:
        return str(error)
    finally:
        shutil.rmtree(probe, ignore_errors=True)


async def provision(backend: Backend, container_dir: Path, layers: Sequence[Path]) -> Path:
    """Build the root file system of a container from ``layers`` (base first)."""
    if not layers:
        raise ProvisionError("the image has no layers")
    rootfs = container_dir / ROOTFS
    if backend == "overlay":
        await asyncio.to_thread(_provision_overlay, container_dir, layers)
    else:
        await asyncio.to_thread(_copy_layers, layers, rootfs)
    return rootfs


def remove_rootfs(container_dir: Path) -> None:
    """Unmount and delete a container's root file system and everything beside it.

    Refuses to delete while something is still mounted there: deleting through a mount
    would reach what it mounts.
    """
    rootfs = container_dir / ROOTFS
    if os.path.ismount(rootfs):
        _unmount(rootfs)
    if os.path.ismount(rootfs):
        raise ProvisionError(f"'{rootfs}' is still mounted")
    shutil.rmtree(container_dir, ignore_errors=not container_dir.exists())


def _provision_overlay(container_dir: Path, layers: Sequence[Path]) -> None:
    links = container_dir / "l"
    for name in ("upper", "work", ROOTFS, "l"):
        (container_dir / name).mkdir(exist_ok=True)
    names = []
    for index, layer in enumerate(layers):
        link = links / str(index)
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(layer)
        names.append(f"l/{index}")
    _mount_overlay(container_dir, list(reversed(names)))  # overlay lists the top layer first


def _mount_overlay(directory: Path, lower: list[str]) -> None:
    """Mount ``directory/rootfs`` from relative lower dirs, ``upper`` and ``work``."""
    options = f"lowerdir={':'.join(lower)},upperdir=upper,workdir=work"
    result = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, ROOTFS],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ProvisionError(f"mount -t overlay failed: {result.stderr.strip()}")


def _unmount(path: Path) -> None:
    if _LIBC.umount2(str(path).encode(), MNT_DETACH) != 0:
        number = ctypes.get_errno()
        raise ProvisionError(f"cannot unmount '{path}': {os.strerror(number)}")


def _copy_layers(layers: Sequence[Path], rootfs: Path) -> None:
    rootfs.mkdir(exist_ok=True)
    for layer in layers:
        _apply_layer(layer, rootfs)


def _apply_layer(layer: Path, rootfs: Path) -> None:
    """Copy one layer over ``rootfs``: first delete what it whites out or replaces by
    another kind of file, so that the copy never follows a link a lower layer left where
    this one has a directory, then copy it, then drop the whiteout markers it brought."""
    markers: list[Path] = []
    for directory, dirnames, filenames in os.walk(layer):
        relative = Path(directory).relative_to(layer)
        target = rootfs / relative
        if whiteouts.is_opaque(directory, dirnames + filenames) and relative.parts:
            _clear(target)
        for name in dirnames + filenames:
            status = os.lstat(os.path.join(directory, name))
            if whiteouts.is_marker(name, status):
                markers.append(relative / name)
                deleted = whiteouts.deleted_name(name, status)
                if deleted is not None:
                    _delete(target / deleted)
            elif _kind(target / name) not in (None, _kind_of(status)):  # a link is no dir
                _delete(target / name)
    result = subprocess.run(
        ["cp", "-a", "--remove-destination", f"{layer}/.", f"{rootfs}/"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ProvisionError(f"copying layer '{layer}' failed: {result.stderr.strip()}")
    for marker in markers:
        _delete(rootfs / marker)


def _kind(path: Path) -> str | None:
    try:
        return _kind_of(os.lstat(path))
    except FileNotFoundError:
        return None


def _kind_of(status: os.stat_result) -> str:
    return "directory" if stat.S_ISDIR(status.st_mode) else "other"


def _clear(directory: Path) -> None:
    if os.path.islink(directory) or not directory.is_dir():
        _delete(directory)
        return
    for entry in os.listdir(directory):
        _delete(directory / entry)


def _delete(path: Path) -> None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(status.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()
