"""A minimal Debian image with Python 3, built locally (debootstrap + ``docker import``).

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


def debian_tag() -> str:
    recipe = f"{SUITE} {MIRROR} {' '.join(PACKAGES)}".encode()
    return f"{SUITE}-{hashlib.sha256(recipe).hexdigest()[:12]}"


def debian_python_image(api: APIClient) -> str:
    """The reference of the Debian + Python image, building it if the Engine lacks it."""
    reference = f"{REPOSITORY}:{debian_tag()}"
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not api.images(name=reference, quiet=True):
            _build(api, reference)
    return reference


def _build(api: APIClient, reference: str) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="dockyard-debian-") as work:
        root = Path(work) / "root"
        archive = Path(work) / "root.tar"
        _debootstrap(debootstrap, root)
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."], check=True
        )
        repository, tag = reference.split(":")
        api.import_image(
            src=str(archive),
            repository=repository,
            tag=tag,
            changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        )


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
