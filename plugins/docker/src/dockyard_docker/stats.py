"""Engine ``/containers/{id}/stats`` → Mesos ResourceStatistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.messages import ResourceStatistics

NANOSECONDS = 1e9


def statistics(stats: Mapping[str, Any], timestamp: float) -> ResourceStatistics:
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    memory = stats.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    rss = detail.get("rss", detail.get("anon"))
    return ResourceStatistics(
        timestamp=timestamp,
        processes=(stats.get("pids_stats") or {}).get("current"),
        cpus_user_time_secs=_seconds(cpu.get("usage_in_usermode")),
        cpus_system_time_secs=_seconds(cpu.get("usage_in_kernelmode")),
        mem_total_bytes=memory.get("usage"),
        mem_limit_bytes=memory.get("limit"),
        mem_rss_bytes=rss,
    )


def _seconds(nanoseconds: int | None) -> float | None:
    return nanoseconds / NANOSECONDS if nanoseconds is not None else None
