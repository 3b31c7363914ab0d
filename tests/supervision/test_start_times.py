"""The supervisor's start time of a process is exactly ``psutil``'s create time: records
written with either are compared with the other (adoption, the mesos plugin's usage)."""

from __future__ import annotations

import os
import subprocess

import psutil
import pytest
from dockyard.supervision.start_times import start_time


def test_it_equals_psutils_create_time_for_live_processes() -> None:
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            for pid in (1, os.getpid(), os.getppid(), child.pid):
                assert start_time(pid) == psutil.Process(pid).create_time(), pid
        finally:
            child.kill()


def test_a_zombie_keeps_its_start_time() -> None:
    with subprocess.Popen(["true"]) as child:
        expected = psutil.Process(child.pid).create_time()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert start_time(child.pid) == expected


def test_a_process_that_is_gone_has_none() -> None:
    with subprocess.Popen(["true"]) as child:
        pass
    with pytest.raises(ProcessLookupError):
        start_time(child.pid)
