"""Health checks of running command tasks, and the updates their verdicts cause."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from dockyard.background import Background
from dockyard.dispatcher import Dispatcher
from dockyard.health import HealthVerdicts, check_health, probe_for
from dockyard.ledger import TaskRecord
from dockyard.messages import TaskState, TaskStatus


class TaskHealth:
    def __init__(
        self,
        dispatcher: Dispatcher,
        background: Background,
        agent_addresses: frozenset[str],
        record_running: Callable[[TaskRecord, bool], None],
        kill: Callable[[TaskRecord], None],
    ) -> None:
        self._dispatcher = dispatcher
        self._background = background
        self._addresses = agent_addresses
        self._record_running = record_running
        self._kill = kill
        self._checks: dict[str, asyncio.Task[None]] = {}

    def start(self, record: TaskRecord, running: TaskStatus | None) -> None:
        """Check ``record`` if its TaskInfo asks for it; ``running`` is its TASK_RUNNING."""
        check = record.task.health_check
        if check is None or record.task.executor is not None or record.key in self._checks:
            return

        async def run_in_container(time_limit: timedelta) -> int | None:
            assert check is not None
            assert check.command is not None
            return await self._dispatcher.exec_in_container(
                record.container_id, check.command, time_limit
            )

        verdicts = HealthVerdicts(
            changed=lambda healthy: self._changed(record, healthy),
            kill=lambda: self._kill(record),
        )
        self._checks[record.key] = self._background.spawn(
            check_health(
                check, probe_for(check, running, run_in_container, self._addresses), verdicts
            )
        )

    def stop(self, record: TaskRecord) -> None:
        checking = self._checks.pop(record.key, None)
        if checking is not None and checking is not asyncio.current_task():
            checking.cancel()

    def _changed(self, record: TaskRecord, healthy: bool) -> None:
        """A TASK_RUNNING update with the new health; never once a kill has begun."""
        if record.head_state is not TaskState.TASK_RUNNING or record.kill_cause is not None:
            return
        self._record_running(record, healthy)
