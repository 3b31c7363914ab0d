"""``--docker_mesos_image``: the agent itself runs in a Docker container of that image.

Task containers are siblings of the agent's container, created through the same Engine, so
they outlive it; recovery finds them by label. What does need care is the sandbox: the Engine
resolves a bind mount's source on the *host*, so the sandbox path the agent sees must become
the host path it stands for. The agent's own container says how, through its ``Mounts``.
Unlike Mesos, no ``mesos-<id>.executor`` container exists and no container name is parsed.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from docker import APIClient
from docker.errors import APIError
from dockyard.containers import StartupError

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
CGROUP = Path("/proc/self/cgroup")
MOUNTED_ID = re.compile(r"/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\.conf)\b")
"""The files the Engine bind-mounts into every container, from ``<data-root>/containers/<id>/``."""
CGROUP_ID = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$", re.MULTILINE)
"""``/docker/<id>`` (cgroupfs driver) or ``docker-<id>.scope`` (systemd driver)."""
MAPPABLE_MOUNTS = ("bind", "volume")


@dataclass(frozen=True)
class PathMap:
    """Paths as the agent sees them → the host paths the Engine needs for a bind mount.

    ``mounts`` pairs each mount's destination (in the agent's container) with its source on
    the host; the first destination that contains a path decides, so the deepest comes first.
    """

    mounts: tuple[tuple[PurePosixPath, PurePosixPath], ...]

    @classmethod
    def from_mounts(cls, mounts: Iterable[Mapping[str, Any]]) -> PathMap:
        """From ``docker inspect``'s ``Mounts``: binds and volumes (a tmpfs has no host side)."""
        pairs = [
            (PurePosixPath(mount["Destination"]), PurePosixPath(mount["Source"]))
            for mount in mounts
            if mount.get("Type") in MAPPABLE_MOUNTS and mount.get("Source")
        ]
        return cls(tuple(sorted(pairs, key=lambda pair: len(pair[0].parts), reverse=True)))

    def to_host(self, path: PurePosixPath) -> PurePosixPath | None:
        """The host path of ``path`` (absolute, normalised), or None if no mount holds it."""
        for destination, source in self.mounts:
            if path.is_relative_to(destination):
                return source / path.relative_to(destination)
        return None


ON_THE_HOST = PathMap(((PurePosixPath("/"), PurePosixPath("/")),))
"""The agent runs on the host: every path is already a host path."""


def candidate_ids(mountinfo: str, cgroup: str, hostname: str) -> list[str]:
    """Ids (or, from the hostname, an id prefix) that may name the container we run in,
    most reliable first: the Engine's own bind mounts, the cgroup path, the hostname."""
    found = MOUNTED_ID.findall(mountinfo) + CGROUP_ID.findall(cgroup) + [hostname]
    return list(dict.fromkeys(found))


def find_own_container(api: APIClient) -> dict[str, Any] | None:
    """``docker inspect`` of the container this process runs in, or None if there is none
    on this Engine. A candidate must be a prefix of the container's id, never just a name:
    with host networking the hostname is the host's and may happen to name a container."""
    for candidate in candidate_ids(_read(MOUNTINFO), _read(CGROUP), socket.gethostname()):
        if not candidate:
            continue
        try:
            inspect: dict[str, Any] = api.inspect_container(candidate)
        except APIError:  # includes NotFound
            continue
        if str(inspect.get("Id", "")).startswith(candidate):
            return inspect
    return None


def sandbox_paths(api: APIClient, image: str, work_dir: Path) -> PathMap:
    """Check that the agent runs in a container of ``image`` whose mounts hold ``work_dir``;
    the map from the agent's paths to host paths. Raises StartupError saying what to fix."""
    own = find_own_container(api)
    if own is None:
        raise StartupError(
            f"--docker_mesos_image={image} says the agent runs in a Docker container, but no "
            "container of this Engine is the one the agent runs in (looked for its id in "
            f"{MOUNTINFO}, {CGROUP} and the hostname). Run the agent in a container on the "
            "Engine of --docker_socket, or leave --docker_mesos_image unset."
        )
    name = str(own.get("Name", "")).lstrip("/") or own["Id"][:12]
    if not _runs_image(api, own, image):
        raise StartupError(
            f"--docker_mesos_image={image}: the agent's container {name} runs image "
            f"{own.get('Config', {}).get('Image')}, not {image}."
        )
    paths = PathMap.from_mounts(own.get("Mounts") or [])
    given = PurePosixPath(os.path.abspath(work_dir))
    resolved = PurePosixPath(os.path.realpath(work_dir))
    host_work_dir = paths.to_host(resolved)
    if host_work_dir is None:
        raise StartupError(
            f"--docker_mesos_image={image}: the work_dir {given} is not on a bind mount or "
            f"volume of the agent's container {name}, so task containers could not mount "
            f"their sandboxes. Mount it into the agent's container, e.g. "
            f"`-v {given}:{given}`."
        )
    if given != resolved:  # sandboxes are named through the symlink
        paths = PathMap(((given, host_work_dir), *paths.mounts))
    network = (own.get("HostConfig") or {}).get("NetworkMode")
    if network != "host":
        log.warning(
            "The agent's container %s uses network mode %s: executors in host-network "
            "containers reach the agent only through --ip/--port published on the host",
            name,
            network,
        )
    log.info("Running in container %s: work_dir %s is %s on the host", name, given, host_work_dir)
    return paths


def _runs_image(api: APIClient, container: Mapping[str, Any], image: str) -> bool:
    """By the reference the container was created with, else by image id (another tag)."""
    if (container.get("Config") or {}).get("Image") == image:
        return True
    return container.get("Image") in api.images(name=image, quiet=True)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
