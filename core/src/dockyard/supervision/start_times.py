"""A process's start time, as ``psutil.Process(pid).create_time()`` gives it, for less.

The supervisor records it at every spawn and compares it when it adopts a task, and the
mesos plugin compares it with psutil's own value (``dockyard_mesos.usage``): so it must be
the very float psutil computes, ``starttime / CLOCK_TICKS + btime`` (``/proc/<pid>/stat``
field 22, ``/proc/stat``'s ``btime``, both as floats). psutil builds a ``Process`` first
(which reads the stat file once more) and reads ``/proc/stat`` at every call: about ten
system calls, where one read of the stat file does, and ``btime`` is read at most once a
second (it only moves when the clock is stepped).
"""

from __future__ import annotations

import os
import time

from dockyard.supervision import proc_files

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BOOT_TIME_TTL_SECONDS = 1.0
_STAT_FIELD = 19
"""``starttime``, counted from the first field after the command's closing parenthesis."""

_boot_time = 0.0
_boot_time_read_at = float("-inf")


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
