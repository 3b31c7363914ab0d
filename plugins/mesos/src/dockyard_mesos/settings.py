"""The ``mesos`` containerizer's agent flags, as typed handles (Mesos's names and defaults)."""

from __future__ import annotations

from dockyard.flags import define

from dockyard_mesos import isolation

ISOLATION = define(
    "isolation",
    isolation.ISOLATION,
    default=isolation.DEFAULT,
    help="Isolators of the mesos containerizer: posix/cpu,posix/mem measure usage "
    "only; cgroups/cpu,cgroups/mem put each task in cgroups (v1 or v2) limited to "
    "its cpus and mem (falls back to posix where cgroups are unavailable).",
)
LAUNCHER = define(
    "launcher",
    isolation.LAUNCHER,
    help="How the mesos containerizer finds every process of a task, to kill all of "
    "them when it ends: linux puts each task in a cgroup (root, writable cgroups); "
    "posix makes each task a child subreaper of the supervisor. Default: linux "
    "where it works, else posix.",
)
