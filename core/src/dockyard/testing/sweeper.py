"""Kill, at the end of a test, every process the test started and its plugin lost.

A test's plugin may start processes in new sessions, daemons that double-fork, tasks in
cgroups of their own: a process group or a cgroup of the test would not hold them. So
for the test's duration the test process is a *child subreaper*: whatever is orphaned
below it is handed to it, not to init, and everything the test started stays in its
process tree. At the end, every process below it that was not there when the test began
(and is not below one that was: a session-scoped server's workers) is SIGKILLed until
none is left, and reaped. Nothing a failing test, or a plugin that forgot a task, started
outlives pytest. The cgroups they were in (a task's, its plugin's) are removed with them,
up to the hierarchy's top level.
"""

from __future__ import annotations

import contextlib
import logging
import os
from types import TracebackType

import psutil

from dockyard.supervision import cgroups, leftovers
from dockyard.supervision.spawn import become_child_subreaper, stop_being_child_subreaper

log = logging.getLogger(__name__)


_active = 0
"""Sweepers open in this process: the last one out stops being a subreaper."""


class ProcessSweeper:
    """``async with ProcessSweeper(): ...`` kills what the block started and left."""

    def __init__(self) -> None:
        self._before: set[int] = set()

    async def __aenter__(self) -> ProcessSweeper:
        global _active
        if _active == 0:
            become_child_subreaper()
        _active += 1
        self._before = leftovers.descendants(os.getpid())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _active
        try:
            await self.sweep()
        finally:
            _active -= 1
            if _active == 0:
                stop_being_child_subreaper()

    def started_here(self) -> set[int]:
        """The live processes the block started, however far they wandered below us."""
        spared = set(self._before)
        for pid in self._before:
            spared |= leftovers.descendants(pid)
        return leftovers.descendants(os.getpid()) - spared

    async def sweep(self) -> None:
        """SIGKILL what the block left running, then reap our own dead children."""
        left = self.started_here()
        if left:
            log.warning("killing %d process(es) the test left: %s", len(left), _describe(left))
            own = set(cgroups.own_cgroups().values())
            their_cgroups = {d for pid in left for d in cgroups.of_process(pid)} - own
            await leftovers.kill_all(self.started_here)
            cgroups.remove_with_parents(their_cgroups, keep=own)
        for child in leftovers.children(os.getpid()) - self._before:
            with contextlib.suppress(ChildProcessError):  # someone else's waiter got it
                os.waitpid(child, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG: never blocks)


def _describe(pids: set[int]) -> str:
    described = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            described.append(f"{pid} ({' '.join(psutil.Process(pid).cmdline())[:80]})")
    return ", ".join(described)
