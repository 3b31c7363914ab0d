"""Engine ``/containers/{id}/stats`` → Mesos ResourceStatistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.messages import ResourceStatistics

NANOSECONDS = 1e9


def statistics(stats: Mapping[str, Any], timestamp: float) -> ResourceStatistics:
    """What the Engine measured. CFS throttling is reported whenever a CPU quota is in
    force (the Engine then counts periods)."""
    cpu_stats = stats.get("cpu_stats") or {}
    cpu = cpu_stats.get("cpu_usage") or {}
    throttling = cpu_stats.get("throttling_data") or {}
    throttled = bool(throttling.get("periods"))
    memory = stats.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    rss = detail.get("rss", detail.get("anon"))
    return ResourceStatistics(
        timestamp=timestamp,
        processes=(stats.get("pids_stats") or {}).get("current"),
        cpus_user_time_secs=_seconds(cpu.get("usage_in_usermode")),
        cpus_system_time_secs=_seconds(cpu.get("usage_in_kernelmode")),
        cpus_nr_periods=throttling.get("periods") if throttled else None,
        cpus_nr_throttled=throttling.get("throttled_periods") if throttled else None,
        cpus_throttled_time_secs=_seconds(throttling.get("throttled_time")) if throttled else None,
        mem_total_bytes=memory.get("usage"),
        mem_rss_bytes=rss,
    )


def _seconds(nanoseconds: int | None) -> float | None:
    return nanoseconds / NANOSECONDS if nanoseconds is not None else None
