"""The ``--isolation`` and ``--launcher`` flags: which Mesos isolators the plugin applies,
and how it finds every process of a task.

``posix/cpu`` and ``posix/mem`` only measure; ``cgroups/cpu`` and ``cgroups/mem`` enforce
``cpus`` and ``mem`` in per-task cgroups (and fall back to posix where cgroups are missing).
The ``linux`` launcher puts every task in a cgroup, if only to track its processes; the
``posix`` one tracks a task without cgroups by making it a child subreaper.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.containers import ContainerConfig
from dockyard.flags import FlagKind, choice
from dockyard.stated_limits import StatedLimits, stated_limits
from dockyard.supervision import cgroups

DEFAULT = "posix/cpu,posix/mem"
ISOLATORS = (
    "cgroups/cpu",
    "cgroups/mem",
    "posix/cpu",
    "posix/mem",
    "filesystem/linux",
    "docker/runtime",
)
IMAGE_ISOLATORS = ("filesystem/linux", "docker/runtime")
"""What running tasks in container images needs (with ``--image_providers=docker``)."""
LAUNCHER = choice("linux", "posix")


@dataclass(frozen=True)
class Isolation:
    isolators: tuple[str, ...]

    def cgroup_controllers(self) -> tuple[str, ...]:
        """The cgroup controllers the isolators need (v1 names)."""
        controllers: tuple[str, ...] = ()
        if "cgroups/cpu" in self.isolators:
            controllers += cgroups.CPU_CONTROLLERS
        if "cgroups/mem" in self.isolators:
            controllers += cgroups.MEMORY_CONTROLLERS
        return controllers

    def task_controllers(self, launcher: str | None) -> tuple[str, ...]:
        """The controllers of each task's cgroups: the isolators' or, unless the launcher is
        ``posix``, one to track the task's processes (any cgroup does that too)."""
        return self.cgroup_controllers() or (
            () if launcher == "posix" else cgroups.TRACKING_CONTROLLERS
        )

    def missing_for_images(self) -> tuple[str, ...]:
        return tuple(name for name in IMAGE_ISOLATORS if name not in self.isolators)

    def __str__(self) -> str:
        return ",".join(self.isolators)


def parse(text: str, flag: str) -> Isolation:
    names = tuple(name.strip() for name in text.split(","))
    for name in names:
        if name not in ISOLATORS:
            raise ValueError(f"unsupported isolator '{name}' (supported: {', '.join(ISOLATORS)})")
    for resource in ("cpu", "mem"):
        if {f"posix/{resource}", f"cgroups/{resource}"} <= set(names):
            raise ValueError(f"choose one of 'posix/{resource}' and 'cgroups/{resource}'")
    return Isolation(names)


ISOLATION: FlagKind[Isolation] = FlagKind(
    name="isolator list",
    metavar="ISOLATOR,...",
    value_type=Isolation,
    parse=parse,
    render=str,
)


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """A container's ``cpus`` and ``mem`` (MB): requested resources and optional limits."""

    cpus: float | None = None
    mem_mb: float | None = None
    cpus_limit: float | None = None
    mem_limit_mb: float | None = None
    enable_cfs: bool = False
    """``--cgroups_enable_cfs`` when the container was launched."""

    def limits(self) -> cgroups.Limits:
        return cgroups.compute_limits(
            cpus=self.cpus,
            mem_mb=self.mem_mb,
            cpus_limit=self.cpus_limit,
            mem_limit_mb=self.mem_limit_mb,
            enable_cfs=self.enable_cfs,
        )

    def stated(self) -> StatedLimits:
        """The limits a usage report states (Mesos's, as for any containerizer)."""
        return stated_limits(
            cpus=self.cpus,
            mem_mb=self.mem_mb,
            cpus_limit=self.cpus_limit,
            mem_limit_mb=self.mem_limit_mb,
            enable_cfs=self.enable_cfs,
        )


def allocation(config: ContainerConfig, enable_cfs: bool) -> Allocation:
    def requested(name: str) -> float | None:
        values = [r.scalar.value for r in config.resources if r.name == name and r.scalar]
        return sum(values) if values else None

    def limit(name: str) -> float | None:
        scalar = config.limits.get(name)
        return None if scalar is None else scalar.value

    return Allocation(
        cpus=requested("cpus"),
        mem_mb=requested("mem"),
        cpus_limit=limit("cpus"),
        mem_limit_mb=limit("mem"),
        enable_cfs=enable_cfs,
    )
