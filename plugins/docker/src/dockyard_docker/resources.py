"""CPU and memory settings from Mesos resources and limits (``mesos-behaviour.md`` §3.5)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dockyard.messages import Resource, Scalar

CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
CFS_PERIOD_US = 100_000
MIN_CFS_QUOTA_US = 1_000
MIN_MEMORY = 32 * 1024 * 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Engine API HostConfig values; None means "leave the Engine's default"."""

    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    """Set with every quota: Mesos's ``update`` writes the 100 ms period alongside."""
    mem_limit: int | None = None
    mem_reservation: int | None = None
    oom_score_adj: int | None = None


def scalar_total(resources: Sequence[Resource], name: str) -> float | None:
    values = [r.scalar.value for r in resources if r.name == name and r.scalar is not None]
    return sum(values) if values else None


def host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def compute_limits(
    resources: Sequence[Resource],
    limits: Mapping[str, Scalar],
    total_memory: int,
    enable_cfs: bool = False,
) -> Limits:
    """Mesos's formulas: shares from the cpu request, quota from a finite cpu limit (or,
    with ``--cgroups_enable_cfs`` and no cpu limit, from the request), memory from the
    limit (or the request when there is no limit)."""
    cpus = scalar_total(resources, "cpus")
    cpu_shares = max(math.floor(CPU_SHARES_PER_CPU * cpus), MIN_CPU_SHARES) if cpus else None
    cpu_limit = limits["cpus"].value if "cpus" in limits else None
    if cpu_limit is None and enable_cfs:
        cpu_limit = cpus
    cpu_quota = None
    if cpu_limit is not None and math.isfinite(cpu_limit):
        cpu_quota = max(int(CFS_PERIOD_US * cpu_limit), MIN_CFS_QUOTA_US)

    mem_mb = scalar_total(resources, "mem")
    request = int(mem_mb * MB) if mem_mb is not None else None
    mem_limit_mb = limits["mem"].value if "mem" in limits else None
    mem_limit = mem_reservation = oom_score_adj = None
    if mem_limit_mb is not None:
        if math.isfinite(mem_limit_mb):
            mem_limit = max(int(mem_limit_mb * MB), MIN_MEMORY)
        if request is not None:
            mem_reservation = max(request, MIN_MEMORY)
            if not math.isfinite(mem_limit_mb) or request < mem_limit_mb * MB:
                oom_score_adj = 1000 - 1000 * request // total_memory
    elif request is not None:
        mem_limit = max(request, MIN_MEMORY)
    cpu_period = CFS_PERIOD_US if cpu_quota is not None else None
    return Limits(cpu_shares, cpu_quota, cpu_period, mem_limit, mem_reservation, oom_score_adj)


def port_ranges(resources: Sequence[Resource]) -> list[tuple[int, int]]:
    return [
        (r.begin, r.end)
        for resource in resources
        if resource.name == "ports" and resource.ranges is not None
        for r in resource.ranges.range
    ]


def allocation_role(resources: Sequence[Resource]) -> str | None:
    """The role of the first resource, as Mesos sets ``MESOS_ALLOCATION_ROLE``."""
    if not resources:
        return None
    first = resources[0]
    if first.allocation_info is not None and first.allocation_info.role:
        return str(first.allocation_info.role)
    return first.role
