"""The supervisor's start time of a process is exactly ``psutil``'s create time: records
written with either are compared with the other (adoption, the mesos plugin's usage)."""

from __future__ import annotations

import os
import subprocess

import psutil
import pytest
from dockyard.supervision import start_times
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


def test_a_child_gets_psutils_create_time_without_reading_proc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(start_times, "_stamps_agree", None)
    children = []
    try:
        for _ in range(200):  # some span a tick's end: those read /proc
            before = start_times.boot_clock()
            pid = os.posix_spawn("/bin/true", ["true"], {})
            after = start_times.boot_clock()
            children.append((pid, start_times.child_start_time(pid, before, after)))
        assert start_times._stamps_agree is True  # so most took the short way
        for pid, started in children:
            assert started == psutil.Process(pid).create_time(), pid
    finally:
        for pid, _ in children:
            os.waitpid(pid, 0)


def test_a_kernel_stamping_otherwise_is_read_from_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_times, "_stamps_agree", None)
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            wrong = start_times.boot_clock() + 10**9  # a tick it did not start in
            for _ in range(2):
                started = start_times.child_start_time(child.pid, wrong, wrong)
                assert started == psutil.Process(child.pid).create_time()
            assert start_times._stamps_agree is False
        finally:
            child.kill()
