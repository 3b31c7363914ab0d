"""A minimal Debian image with Python 3, built locally (debootstrap + ``docker import``;
the image store tests push the same root file system to a registry instead).

Tests that need an interpreter inside a container (a standard-library executor, the agent
image) start from it. Building takes about a minute, so it is done once: the image is
tagged by what goes into it and kept in the Engine, and parallel test workers wait on a
file lock instead of building it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from docker import APIClient

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3-minimal", "python3-venv", "ca-certificates")
REPOSITORY = "dockyard-test/debian-python"
LOCK = Path(tempfile.gettempdir()) / "dockyard-test-debian-image.lock"
ATTEMPTS = 3
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def debian_tag() -> str:
    recipe = f"{SUITE} {MIRROR} {' '.join(PACKAGES)}".encode()
    return f"{SUITE}-{hashlib.sha256(recipe).hexdigest()[:12]}"


def debian_rootfs_tar() -> Path:
    """The Debian + Python root file system as a tar (built with debootstrap once, kept in
    the temporary directory by its recipe): what the Engine imports, and what the image
    store tests push to a registry as a layer, without Docker."""
    archive = Path(tempfile.gettempdir()) / f"dockyard-test-debian-{debian_tag()}.tar"
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not archive.exists():
            _build_tar(archive)
    return archive


def debian_python_image(api: APIClient) -> str:
    """The reference of the Debian + Python image, importing it if the Engine lacks it."""
    reference = f"{REPOSITORY}:{debian_tag()}"
    archive = debian_rootfs_tar()
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not api.images(name=reference, quiet=True):
            repository, tag = reference.split(":")
            api.import_image(
                src=str(archive),
                repository=repository,
                tag=tag,
                changes=[f"ENV PATH={PATH}"],
            )
    return reference


def _build_tar(archive: Path) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="dockyard-debian-") as work:
        root = Path(work) / "root"
        partial = archive.with_suffix(".partial")
        _debootstrap(debootstrap, root)
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True
        )
        partial.rename(archive)  # whole or absent


def _debootstrap(debootstrap: str, root: Path) -> None:
    """debootstrap into ``root``, trying again from scratch when the mirror fails us."""
    command = [
        debootstrap,
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(root),
        MIRROR,
    ]
    for attempt in range(1, ATTEMPTS + 1):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            return
        shutil.rmtree(root, ignore_errors=True)
        if attempt == ATTEMPTS:
            output = (done.stdout + done.stderr).splitlines()[-20:]
            raise RuntimeError(
                f"debootstrap of {SUITE} from {MIRROR} failed {ATTEMPTS} times; last output:\n"
                + "\n".join(output)
            )
