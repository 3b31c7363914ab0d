"""The limits a usage report states, as Mesos's containerizers fill them in
``ResourceStatistics`` (``mesos-behaviour.md`` §3.8): from what the container was given,
not from what the kernel or the Engine measures, so that every containerizer reports
them alike.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

from dockyard.messages import ResourceStatistics

MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class StatedLimits:
    cpus_limit: float | None = None
    cpus_soft_limit: float | None = None
    mem_limit_bytes: int | None = None
    mem_soft_limit_bytes: int | None = None

    def applied_to(self, statistics: ResourceStatistics) -> ResourceStatistics:
        return dataclasses.replace(statistics, **dataclasses.asdict(self))


def stated_limits(
    *,
    cpus: float | None,
    mem_mb: float | None,
    cpus_limit: float | None,
    mem_limit_mb: float | None,
    enable_cfs: bool,
) -> StatedLimits:
    """Requests are the soft limits. The hard cpu limit is the cpus limit (an infinite one
    is the host's cpu count), else the request when ``--cgroups_enable_cfs`` gives it a
    quota. The hard memory limit is the mem limit (infinite: the host's memory), else the
    request. Megabytes are whole, as in Mesos."""
    hard_cpus = cpus if enable_cfs else None
    if cpus_limit is not None:
        hard_cpus = cpus_limit if math.isfinite(cpus_limit) else float(os.cpu_count() or 1)
    request = None if mem_mb is None else int(mem_mb) * MIB
    if mem_limit_mb is None:
        return StatedLimits(cpus_limit=hard_cpus, cpus_soft_limit=cpus, mem_limit_bytes=request)
    return StatedLimits(
        cpus_limit=hard_cpus,
        cpus_soft_limit=cpus,
        mem_limit_bytes=int(mem_limit_mb) * MIB if math.isfinite(mem_limit_mb) else _memory(),
        mem_soft_limit_bytes=request,
    )


def _memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
