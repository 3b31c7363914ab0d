"""Resource usage of a running task (ResourceStatistics for the API).

Cgroups give exact totals for everything the task started; without them (posix isolators)
the task's process tree is summed, as Mesos's posix isolators do.
"""

from __future__ import annotations

import time

import psutil
from dockyard.messages import ResourceStatistics
from dockyard.supervision.cgroups import TaskCgroups, Usage
from dockyard.supervision.protocol import ProcessRecord

from dockyard_mesos.isolation import Allocation


def statistics(
    record: ProcessRecord, cgroups: TaskCgroups | None, allocation: Allocation
) -> ResourceStatistics | None:
    """Usage now, or None if the task's process is gone (or its pid now names another)."""
    tree = _process_tree(record)
    try:
        measured = Usage(cpu_times=None, rss_bytes=None) if cgroups is None else cgroups.usage()
    except FileNotFoundError:  # the task ended and its cgroups went away
        return None
    if tree is None:
        return None
    user, system = measured.cpu_times or tree.cpu_times or (0.0, 0.0)
    rss = tree.rss_bytes if measured.rss_bytes is None else measured.rss_bytes
    throttling = measured.throttling
    measured_now = ResourceStatistics(
        timestamp=time.time(),
        cpus_user_time_secs=user,
        cpus_system_time_secs=system,
        cpus_nr_periods=throttling.periods if throttling else None,
        cpus_nr_throttled=throttling.throttled_periods if throttling else None,
        cpus_throttled_time_secs=throttling.throttled_seconds if throttling else None,
        mem_rss_bytes=rss,
    )
    return allocation.stated().applied_to(measured_now)


def _process_tree(record: ProcessRecord) -> Usage | None:
    try:
        leader = psutil.Process(record.pid)
        if leader.create_time() != record.start_time:
            return None
        user = system = 0.0
        rss = 0
        for process in [leader, *leader.children(recursive=True)]:
            try:
                times, memory = process.cpu_times(), process.memory_info()
            except psutil.NoSuchProcess:
                continue
            user, system, rss = user + times.user, system + times.system, rss + memory.rss
    except psutil.NoSuchProcess:
        return None
    return Usage(cpu_times=(user, system), rss_bytes=rss)
