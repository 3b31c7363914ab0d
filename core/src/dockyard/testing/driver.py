"""An in-process agent a test drives: launch tasks, wait for states, kill, restart.

It is the real :class:`dockyard.agent.Agent` (validation, checkpoints, statuses,
recovery), with a plugin host holding only the plugins the test gave it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from dockyard.agent import Agent, TaskNotFoundError
from dockyard.core_flags import core_flag_set
from dockyard.flags import Flags
from dockyard.host import PluginHost
from dockyard.ledger import TaskRecord
from dockyard.messages import TaskID, TaskInfo, TaskStatus
from dockyard.statuses import TERMINAL_STATES
from dockyard.testing import names
from dockyard.testing.factories import kill_policy
from dockyard.testing.plugins import make_host
from dockyard.testing.recorder import HookRecorder
from dockyard.testing.results import TaskResult

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
"""Seconds a wait may take before the test fails: a safety net, not a measurement."""

POLL_INTERVAL = 0.02

TaskRef = str | TaskID | TaskRecord
"""A task, by id or by record; ids stay valid across agent restarts."""


class AgentDriver:
    """Runs a real agent on ``work_dir`` with the given plugins, on the test's event loop.

    ``containerizers`` maps names (as in ``--containerizers``, in that order) to plugin
    objects, ``loggers`` names (as in ``--container_logger``) to container loggers;
    ``flags`` are extra agent flags (``--name=value``). Every wait fails the
    test with :class:`AssertionError` after ``timeout`` seconds (or its ``within``).
    """

    def __init__(
        self,
        work_dir: Path,
        containerizers: Mapping[str, object],
        fetchers: Mapping[str, object] | None = None,
        *,
        loggers: Mapping[str, object] | None = None,
        flags: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.loggers = loggers
        self.work_dir = work_dir
        self.extra_flags = list(flags)
        self.timeout = timeout
        self.recorder = HookRecorder()
        self.host = self._host(containerizers, fetchers)
        self.agent = Agent(self._flags(), self.host)
        self.running = False

    def _host(
        self, containerizers: Mapping[str, object], fetchers: Mapping[str, object] | None
    ) -> PluginHost:
        self.containerizer_names = list(containerizers)
        host = make_host(containerizers, fetchers, self.loggers)
        self.recorder.attach(host.pm)
        return host

    def _flags(self) -> Flags:
        flags = core_flag_set()
        self.host.add_flags(flags)
        argv = [
            f"--work_dir={self.work_dir}",
            f"--containerizers={','.join(self.containerizer_names)}",
            *self.extra_flags,
        ]
        return flags.parse(argv, {})

    # -- life cycle --------------------------------------------------------------

    async def start(self) -> None:
        """Start the plugins and recover checkpointed tasks, as ``dockyard agent`` does."""
        await self.agent.start()
        self.running = True

    async def stop(self) -> None:
        """Stop the agent as a restart would: containers keep running."""
        if self.running:
            self.running = False
            await self.agent.stop()

    async def restart(
        self,
        containerizers: Mapping[str, object],
        fetchers: Mapping[str, object] | None = None,
        *,
        loggers: Mapping[str, object] | None = None,
    ) -> None:
        """Stop, then start a fresh agent with fresh plugin instances on the same work dir
        (``loggers``: fresh container loggers, else the same ones)."""
        await self.stop()
        self.recorder.detach()
        self.loggers = loggers or self.loggers
        self.host = self._host(containerizers, fetchers)
        self.agent = Agent(self._flags(), self.host)
        await self.start()

    async def __aenter__(self) -> AgentDriver:
        """``async with AgentDriver(...) as driver:`` starts it, and closes it at the end."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Kill every task still running (no grace), then stop: what a fixture tears down."""
        if self.running:
            for record in self.agent.tasks():
                if record.terminal:
                    continue
                try:
                    await self.kill(record, grace_period=timedelta(0))
                    await self.result(record)
                except AssertionError:
                    log.exception("could not kill task %s", record.task.task_id.value)
        await self.stop()
        self.recorder.detach()

    # -- tasks -------------------------------------------------------------------

    def task(self, task: TaskRef) -> TaskRecord:
        """The current record of a task (after a restart, the reloaded one)."""
        if isinstance(task, TaskRecord):
            task = task.task.task_id
        return self.agent.find_task(TaskID(value=task) if isinstance(task, str) else task)

    async def launch(self, task: TaskInfo) -> TaskRecord:
        """Launch ``task``; returns once TASK_STAGING is recorded."""
        return await self.agent.launch_task(task)

    async def run(self, task: TaskInfo, *, within: float | None = None) -> TaskResult:
        """Launch ``task`` and wait for its terminal state."""
        __tracebackhide__ = True
        record = await self.launch(task)
        return await self.result(record, within=within)

    async def result(self, task: TaskRef, *, within: float | None = None) -> TaskResult:
        """Wait for the task's terminal state and return it (no assertion on which)."""
        __tracebackhide__ = True
        await self.wait_for_state(task, *TERMINAL_STATES, within=within)
        return TaskResult(self.task(task))

    async def wait_for_state(
        self, task: TaskRef, *states: names.StateName, within: float | None = None
    ) -> TaskStatus:
        """Wait until the task's latest state is one of ``states``; returns that status.

        ``states`` are :class:`TaskState` members or their names (``"TASK_RUNNING"``); an
        unknown name is a ValueError at once. Fails if the task reaches a terminal state
        that is not wanted instead.
        """
        __tracebackhide__ = True
        wanted = {names.state(state) for state in states}
        if not wanted:
            raise ValueError("wait_for_state needs at least one state")
        changed = asyncio.Event()
        unsubscribe = self.agent.subscribe(lambda _record, _status: changed.set())
        try:
            async with asyncio.timeout(within or self.timeout):
                while True:
                    changed.clear()
                    record = self.task(task)
                    status = record.latest_status
                    if status is not None and status.state in wanted:
                        return status
                    if record.terminal:
                        raise AssertionError(
                            f"task ended before reaching {sorted(s.name for s in wanted)}\n"
                            + TaskResult(record).describe()
                        )
                    await changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"task did not reach {sorted(s.name for s in wanted)} within "
                f"{within or self.timeout}s\n{self._describe(task)}"
            ) from None
        finally:
            unsubscribe()

    def _describe(self, task: TaskRef) -> str:
        try:
            return TaskResult(self.task(task)).describe()
        except TaskNotFoundError:
            return "(the agent does not know the task)"

    async def kill(self, task: TaskRef, *, grace_period: timedelta | None = None) -> TaskRecord:
        """Kill a task, with ``grace_period`` overriding its KillPolicy if given.

        Returns once the containerizer's ``destroy`` has returned.
        """
        __tracebackhide__ = True
        record = self.task(task)
        policy = kill_policy(grace_period) if grace_period is not None else None
        try:
            async with asyncio.timeout(self.timeout):
                return await self.agent.kill_task(
                    record.task.task_id, kill_policy=policy, framework_id=record.framework.id
                )
        except TimeoutError:
            raise AssertionError(
                f"killing the task did not complete within {self.timeout}s\n"
                + self._describe(record)
            ) from None

    async def wait_for_file(self, task: TaskRef, name: str, *, within: float | None = None) -> Path:
        """Wait until the task's sandbox holds ``name`` (e.g. a task's "ready" marker).

        Fails as soon as the task ends without having created it.
        """
        __tracebackhide__ = True
        path = self.task(task).sandbox / name
        try:
            async with asyncio.timeout(within or self.timeout):
                while not path.exists():
                    if self.task(task).terminal and not path.exists():
                        raise AssertionError(
                            f"the task ended without creating {name} in its sandbox\n"
                            + self._describe(task)
                        )
                    await asyncio.sleep(POLL_INTERVAL)
        except TimeoutError:
            raise AssertionError(
                f"{name} did not appear in the sandbox within {within or self.timeout}s\n"
                + self._describe(task)
            ) from None
        return path
