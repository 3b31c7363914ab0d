"""The ``mesos`` containerizer's agent flags, as typed handles (Mesos's names and defaults)."""

from __future__ import annotations

from dockyard.flags import choice, define

from dockyard_mesos import isolation
from dockyard_mesos.image_flags import IMAGE_PROVIDERS
from dockyard_mesos.provisioner import BACKENDS

ISOLATION = define(
    "isolation",
    isolation.ISOLATION,
    default=isolation.DEFAULT,
    help="Isolators of the mesos containerizer: posix/cpu,posix/mem measure usage "
    "only; cgroups/cpu,cgroups/mem put each task in cgroups (v1 or v2) limited to "
    "its cpus and mem (falls back to posix where cgroups are unavailable); "
    "filesystem/linux,docker/runtime run tasks in container images "
    "(with --image_providers).",
)
LAUNCHER = define(
    "launcher",
    isolation.LAUNCHER,
    help="How the mesos containerizer finds every process of a task, to kill all of "
    "them when it ends: linux puts each task in a cgroup (root, writable cgroups); "
    "posix makes each task a child subreaper of the supervisor. Default: linux "
    "where it works, else posix.",
)
IMAGE_PROVIDERS_FLAG = define(
    "image_providers",
    IMAGE_PROVIDERS,
    help="Image types the mesos containerizer runs tasks in: docker (pulled from a "
    "registry, no Docker daemon). Needs --isolation to include "
    "filesystem/linux,docker/runtime, and an agent running as root.",
)
PROVISIONER_BACKEND = define(
    "image_provisioner_backend",
    choice(*BACKENDS),
    help="How a container's root file system is built from its image's layers: overlay "
    "(mounted, nothing copied) or copy. Default: overlay where the kernel mounts it, "
    "else copy.",
)
