"""A process's start time, as ``psutil.Process(pid).create_time()`` gives it, for less.

The supervisor records it at every spawn and compares it when it adopts a task, and the
mesos plugin compares it with psutil's own value (``dockyard_mesos.usage``): so it must be
the very float psutil computes, ``starttime / CLOCK_TICKS + btime`` (``/proc/<pid>/stat``
field 22, ``/proc/stat``'s ``btime``, both as floats). psutil builds a ``Process`` first
(which reads the stat file once more) and reads ``/proc/stat`` at every call: about ten
system calls, where one read of the stat file does, and ``btime`` is read at most once a
second (it only moves when the clock is stepped).

A child just spawned needs no read at all (:func:`child_start_time`): the kernel stamps a
new process with ``CLOCK_BOOTTIME`` and shows that stamp in clock ticks, so a child created
between two readings of that clock within one tick started in that tick. Reading the stat
file of a process in the middle of its exec costs some 50 us of CPU more than this.
"""

from __future__ import annotations

import logging
import os
import time

from dockyard.supervision import proc_files

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BOOT_TIME_TTL_SECONDS = 1.0
_STAT_FIELD = 19
"""``starttime``, counted from the first field after the command's closing parenthesis."""

_TICK_NS = 1_000_000_000 // CLOCK_TICKS

log = logging.getLogger(__name__)

_boot_time = 0.0
_boot_time_read_at = float("-inf")
_stamps_agree: bool | None = None
"""Whether this kernel stamps new processes as :func:`child_start_time` expects, as the
first child checked tells; until then, and if not, the stat file is read."""


def start_time(pid: int) -> float:
    """Seconds since the epoch at which ``pid`` started; ProcessLookupError if it is gone
    (a zombie still has one)."""
    try:
        data = proc_files.read_made_at_once(f"/proc/{pid}/stat")
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    fields = data[data.rfind(b")") + 2 :].split()
    return float(fields[_STAT_FIELD]) / CLOCK_TICKS + boot_time()


def boot_time() -> float:
    """``btime`` of ``/proc/stat``, read again once it is a second old."""
    global _boot_time, _boot_time_read_at
    now = time.monotonic()
    if now - _boot_time_read_at >= BOOT_TIME_TTL_SECONDS:
        for line in proc_files.read_made_at_once("/proc/stat").splitlines():
            if line.startswith(b"btime"):
                _boot_time, _boot_time_read_at = float(line.split()[1]), now
                break
        else:
            raise RuntimeError("no 'btime' line in /proc/stat")
    return _boot_time


def boot_clock() -> int:
    """Now, in ns, on the clock the kernel stamps a new process with."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def child_start_time(pid: int, before: int, after: int) -> float:
    """:func:`start_time` of a child created between the readings ``before`` and
    ``after`` of :func:`boot_clock`: their tick when they share one, else read."""
    global _stamps_agree
    tick = before // _TICK_NS
    if _stamps_agree and after // _TICK_NS == tick:
        return float(tick) / CLOCK_TICKS + boot_time()
    read = start_time(pid)
    if _stamps_agree is None and after // _TICK_NS == tick:
        _stamps_agree = read == float(tick) / CLOCK_TICKS + boot_time()
        if not _stamps_agree:
            log.warning("new processes are not stamped with CLOCK_BOOTTIME: reading /proc")
    return read
