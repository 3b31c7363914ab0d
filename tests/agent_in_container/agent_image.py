"""Build the repository's ``Dockerfile`` (the agent image) the way CI can: offline.

The build context is a copy of the distributions plus a wheelhouse prepared on the host with
pip (the host reaches PyPI, the build does not), and the base is the locally built Debian +
Python image instead of ``python:3.11-slim``, which CI cannot pull.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from docker import APIClient

REPOSITORY = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = ("core", "plugins/mesos", "plugins/fetcher", "plugins/docker")
BUILD_REQUIREMENTS = ("setuptools>=68",)
"""What pip needs in the build to build the distributions from source (their build-system)."""
WHEELHOUSE = "wheels"
OFFLINE = f"--no-index --find-links=/build/{WHEELHOUSE}"


class BuildError(Exception):
    pass


def build_context(context: Path) -> None:
    """The Dockerfile, .dockerignore, the distributions' sources and a wheelhouse."""
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(REPOSITORY / name, context / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for distribution in DISTRIBUTIONS:
        shutil.copytree(REPOSITORY / distribution, context / distribution, ignore=ignore)
    wheels = context / WHEELHOUSE
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    sources = [str(context / distribution) for distribution in DISTRIBUTIONS]
    subprocess.run([*pip, "wheel", "--wheel-dir", str(wheels), *sources], check=True)
    subprocess.run([*pip, "download", "--dest", str(wheels), *BUILD_REQUIREMENTS], check=True)


def build_agent_image(api: APIClient, context: Path, base_image: str, tag: str) -> None:
    """``docker build`` of ``context`` on ``base_image``, installing from the wheelhouse."""
    output: list[str] = []
    chunks: Any = api.build(
        path=str(context),
        tag=tag,
        buildargs={"BASE_IMAGE": base_image, "PIP_OPTIONS": OFFLINE},
        rm=True,
        forcerm=True,
        decode=True,
    )
    for chunk in chunks:
        output.append(str(chunk.get("stream", "")))
        if "error" in chunk:
            raise BuildError("".join(output) + str(chunk["error"]))
