"""Signalling a set of processes without ever reaching a stranger, and killing what a task
left behind until none of it is left.

A set of processes is given as a function that lists their pids now (a task's cgroups,
its process tree, the supervisor's stray children). A pid is only a number that the
kernel recycles, so each listed process is opened as a pidfd, the set is listed again,
and only the processes still in it are signalled, through their pidfd: a pid recycled in
between names another process by then, and a pidfd always names the process it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable

import psutil

from dockyard.supervision import proc_files

log = logging.getLogger(__name__)

Finder = Callable[[], set[int]]
"""Lists the live processes of a set now."""

KILL_ROUNDS = 100
"""How many times to kill and wait before giving up on a set that keeps refilling (a fork
storm outrunning the kills); each round kills everything listed, and a killed process can
fork no more, so a set settles in as many rounds as its tree is deep."""
EXIT_WAIT_SECONDS = 10.0
"""How long to wait for SIGKILLed processes to exit: one in uninterruptible sleep (a hung
NFS server) cannot, and the task's end must still be reported."""


def signal_all(find: Finder, number: int) -> list[int]:
    """Send ``number`` to every process ``find`` lists; return their pidfds (the caller
    closes them, see :func:`close`)."""
    opened: dict[int, int] = {}
    for pid in find():
        try:
            opened[pid] = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        except OSError as error:  # out of file descriptors: signal what can be
            log.error("cannot open process %d to signal it: %s", pid, error.strerror)
    try:
        still_listed = find() if opened else set()
    except OSError:
        close(opened.values())
        raise
    signalled = []
    for pid, pidfd in opened.items():
        if pid in still_listed:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, number)
                signalled.append(pidfd)
                continue
        os.close(pidfd)
    return signalled


def close(pidfds: Iterable[int]) -> None:
    for pidfd in pidfds:
        os.close(pidfd)


async def kill_all(find: Finder) -> None:
    """SIGKILL what ``find`` lists and wait for it to exit, until it lists nothing.

    A process dying hands its children to its subreaper or leaves them in its cgroup,
    where the next round finds them.
    """
    for _ in range(KILL_ROUNDS):
        try:
            pidfds = signal_all(find, signal.SIGKILL)
        except OSError as error:  # /proc or the cgroup unreadable: the end is still told
            log.error("cannot list what to kill: %s", error)
            return
        if not pidfds:
            return
        try:
            await asyncio.wait_for(_exited(pidfds), EXIT_WAIT_SECONDS)
        except TimeoutError:
            log.error("%d killed process(es) did not exit; reporting the task's end", len(pidfds))
            return
        finally:
            close(pidfds)
    log.error("processes kept appearing after %d rounds of SIGKILL", KILL_ROUNDS)


async def _exited(pidfds: list[int]) -> None:
    """A pidfd turns readable when its process has exited."""
    loop = asyncio.get_running_loop()
    waiting = set(pidfds)
    done = loop.create_future()

    def exited(pidfd: int) -> None:
        loop.remove_reader(pidfd)
        waiting.discard(pidfd)
        if not waiting and not done.done():
            done.set_result(None)

    for pidfd in pidfds:
        loop.add_reader(pidfd, exited, pidfd)
    try:
        await done
    finally:
        for pidfd in waiting:
            loop.remove_reader(pidfd)


def descendants(pid: int) -> set[int]:
    """The live processes below ``pid`` in the process tree (the leader excluded)."""
    found: set[int] = set()
    below = [pid]
    while below:
        new = children(below.pop()) - found
        found |= new
        below.extend(new)
    return live(found)


def children(pid: int) -> set[int]:
    """The children of ``pid``, zombies included (quick: no scan of every process)."""
    found: set[int] = set()
    try:
        for thread in os.listdir(f"/proc/{pid}/task"):
            listing = proc_files.read(f"/proc/{pid}/task/{thread}/children")
            found.update(int(child) for child in listing.split())
    except (FileNotFoundError, ProcessLookupError):  # no CONFIG_PROC_CHILDREN, or pid gone
        with contextlib.suppress(psutil.NoSuchProcess):
            found.update(process.pid for process in psutil.Process(pid).children())
    return found


def outside_groups(pids: Iterable[int], groups: set[int]) -> set[int]:
    """Those of ``pids`` in none of the process groups ``groups`` (signalled as groups)."""
    outside = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) not in groups:
                outside.add(pid)
    return outside


def live(pids: Iterable[int]) -> set[int]:
    """Those of ``pids`` that have not exited (a zombie has)."""
    alive = set()
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
    return alive
