"""A task's life: launch, TASK_RUNNING, the end of its container, and kills.

Every update goes through the ledger, which publishes it once it is durable;
the decisions taken here look at ``record.head_state`` (the newest accepted
update), so that nothing is sent after a terminal update that is still being
written.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard import uuids
from dockyard.background import Background
from dockyard.containers import Launched, LaunchError, Termination
from dockyard.dispatcher import Dispatcher, Stage, StageObserver
from dockyard.executors import Executors
from dockyard.flags import Flags
from dockyard.launch_config import LaunchConfigs
from dockyard.launch_slots import LaunchSlots
from dockyard.ledger import Ledger, TaskRecord
from dockyard.messages import (
    ContainerID,
    FrameworkCapabilityType,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    Reason,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from dockyard.sandbox import create_sandbox, task_sandbox
from dockyard.statuses import KillCause, agent_status, terminal_state
from dockyard.task_health import TaskHealth
from dockyard.units import format_duration
from dockyard.validation import validate_task

log = logging.getLogger(__name__)

DEFAULT_FRAMEWORK_ID = "dockyard"


class TaskNotFoundError(LookupError):
    pass


class TaskConflictError(ValueError):
    pass


def default_framework(user: str) -> FrameworkInfo:
    return FrameworkInfo(user=user, name="dockyard", id=FrameworkID(value=DEFAULT_FRAMEWORK_ID))


class TaskLifecycle:
    def __init__(
        self,
        *,
        flags: Flags,
        work_dir: Path,
        ledger: Ledger,
        dispatcher: Dispatcher,
        configs: LaunchConfigs,
        executors: Executors,
        background: Background,
        default_user: str,
    ) -> None:
        self.flags = flags
        self.work_dir = work_dir
        self.ledger = ledger
        self.dispatcher = dispatcher
        self.configs = configs
        self.executors = executors
        self.background = background
        self.default_user = default_user
        self.health = TaskHealth(
            dispatcher,
            background,
            frozenset({flags.ip}),
            record_running=self._health_changed,
            kill=lambda record: self._stop_later(record, KillCause.HEALTH_CHECK),
        )
        self._deadlines: dict[str, asyncio.TimerHandle] = {}
        ledger.listen(self._published)
        self.launch_slots = LaunchSlots(ledger)

    def record(
        self, record: TaskRecord, state: TaskState, *, save: bool = False, **fields: Any
    ) -> asyncio.Future[None]:
        """Accept an update the agent makes; the future completes once it is published.
        ``save``: with the record's progress fields, in the same row batch."""
        return self.ledger.append(
            record, agent_status(record, state, self.configs.agent_id, **fields), save=save
        )

    def _published(self, record: TaskRecord, status: TaskStatus) -> None:
        if record.terminal:
            self.health.stop(record)
            if record.task.executor is None:  # an executor's container outlives its tasks
                self.dispatcher.forget(record.containerizer, record.container_id)
            deadline = self._deadlines.pop(record.key, None)
            if deadline is not None:
                self.background.cancel_timer(deadline)

    # -- finding -----------------------------------------------------------------

    def find(self, task_id: TaskID, framework_id: FrameworkID | None = None) -> TaskRecord:
        """The live task with this id, else the newest ended one."""
        matches = [
            record
            for record in self.ledger.tasks()
            if record.task.task_id == task_id
            and (framework_id is None or record.framework.id == framework_id)
        ]
        live = [record for record in matches if not record.terminal]
        if live or matches:
            return (live or matches)[-1]
        raise TaskNotFoundError(f"Task '{task_id.value}' is unknown")

    # -- launching ---------------------------------------------------------------

    async def launch(self, task: TaskInfo, framework: FrameworkInfo | None) -> TaskRecord:
        """Validate, record TASK_STAGING durably, and start the task in the background.

        Waits first for a launch slot (:mod:`dockyard.launch_slots`). Raises
        MessageError (naming the field) before anything is created, and
        StorageError when the launch cannot be recorded (nothing is left behind).
        """
        async with self.launch_slots.reserve() as slot:
            record = await self._accept(task, framework)
            slot.hand_to(record)
            return record

    async def _accept(self, task: TaskInfo, framework: FrameworkInfo | None) -> TaskRecord:
        framework = framework or default_framework(self.default_user)
        if framework.id is None:
            framework.id = FrameworkID(value=DEFAULT_FRAMEWORK_ID)
        validate_task(task)
        if self.ledger.live(framework.id.value, task.task_id.value) is not None:
            raise TaskConflictError(f"task.task_id: task '{task.task_id.value}' is already running")
        if task.container is None and self.flags.default_container_info is not None:
            task.container = copy.deepcopy(self.flags.default_container_info)
        container_id = ContainerID(value=str(uuids.uuid4()))
        record = TaskRecord(
            task=task,
            framework=framework,
            executor_id=task.task_id.value,
            container_id=container_id,
            sandbox=task_sandbox(
                self.work_dir,
                self.configs.agent_id,
                framework.id.value,
                task.task_id.value,
                container_id.value,
            ),
        )
        executor, new_executor = (
            self.executors.assign(record) if task.executor is not None else (None, False)
        )
        try:
            await self.ledger.insert(
                record, agent_status(record, TaskState.TASK_STAGING, self.configs.agent_id)
            )
        except BaseException:
            if executor is not None and new_executor:
                self.executors.abandon(executor)
            raise
        if executor is None:
            self.background.spawn(self._run(record), name=f"task {record.key}")
        elif new_executor:
            self.executors.start(executor)
        elif executor.subscribed.is_set():
            self.executors.deliver(executor, record)
        return record

    async def _run(self, record: TaskRecord) -> None:
        if record.kill_cause is not None:
            self.record(
                record,
                TaskState.TASK_KILLED,
                reason=Reason.REASON_TASK_KILLED_DURING_LAUNCH,
                message="Task killed before it was launched",
            )
            return
        config = self.configs.for_task(record)
        timeout: timedelta = self.flags.executor_registration_timeout
        deadline = self.background.later(
            timeout.total_seconds(),
            lambda: self.stop(record, KillCause.REGISTRATION_TIMEOUT, None),
        )
        try:
            # On the event loop: a few mkdirs cost less than a thread's hand-off and
            # wake-up, and no kill can come between them and the launch.
            create_sandbox(config.sandbox, config.user)
            launched = await self.dispatcher.launch(config, observe=self._observer(record))
        except LaunchError as error:
            self._launch_failed(record, str(error))
            return
        except Exception as error:  # a plugin bug must not leave the task STAGING forever
            log.exception("launch of task %s failed", record.task.task_id.value)
            self._launch_failed(record, f"{type(error).__name__}: {error}")
            return
        finally:
            self.background.cancel_timer(deadline)
        record.handle = launched.handle
        record.launched_at = time.time()
        self.running(record, launched)
        await self.follow(record, self.dispatcher.ended(record.container_id))

    def _observer(self, record: TaskRecord) -> StageObserver:
        async def observe(stage: Stage, containerizer: str) -> None:
            if stage is Stage.SELECTED:
                record.containerizer = containerizer
                await self.ledger.save(record)  # recovery must know who launched it
            elif stage is Stage.PREPARED:
                self.record(record, TaskState.TASK_STARTING)

        return observe

    def _launch_failed(self, record: TaskRecord, error: str) -> None:
        if record.kill_cause is KillCause.REGISTRATION_TIMEOUT:
            timeout = format_duration(self.flags.executor_registration_timeout)
            self.record(
                record,
                TaskState.TASK_FAILED,
                reason=Reason.REASON_EXECUTOR_REGISTRATION_TIMEOUT,
                message=f"Container did not start within {timeout} "
                "(--executor_registration_timeout; fetch and image pull included)",
            )
        elif record.kill_cause is KillCause.REQUESTED:
            self.record(
                record,
                TaskState.TASK_KILLED,
                reason=Reason.REASON_TASK_KILLED_DURING_LAUNCH,
                message=f"Task killed during launch: {error}",
            )
        else:
            self.record(
                record,
                TaskState.TASK_FAILED,
                reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
                message=f"Failed to launch container: {error}",
            )

    def running(self, record: TaskRecord, launched: Launched | None) -> None:
        """Send TASK_RUNNING, then watch the task's deadline and health."""
        running = agent_status(
            record,
            TaskState.TASK_RUNNING,
            self.configs.agent_id,
            data=launched.data if launched else None,
            container_status=launched.container_status if launched else None,
        )
        self.ledger.append(record, running, save=True)  # the handle, launched_at
        self.supervise(record, running)

    def supervise(self, record: TaskRecord, running: TaskStatus | None) -> None:
        """Arm the max_completion_time deadline and start health checks."""
        limit = record.task.max_completion_time
        if limit is not None and record.launched_at is not None:
            delay = record.launched_at + limit.nanoseconds / 1e9 - time.time()
            self._deadlines[record.key] = self.background.later(
                delay, lambda: self.stop(record, KillCause.MAX_COMPLETION_TIME, None)
            )
        self.health.start(record, running)

    def _health_changed(self, record: TaskRecord, healthy: bool) -> None:
        running = next(
            (s for s in reversed(record.statuses) if s.state is TaskState.TASK_RUNNING), None
        )
        self.record(
            record,
            TaskState.TASK_RUNNING,
            healthy=healthy,
            reason=Reason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
            container_status=running.container_status if running else None,
        )

    async def follow(self, record: TaskRecord, ended: asyncio.Future[Termination] | None) -> None:
        """Wait for the container to end and send the terminal update."""
        termination = None if ended is None else await asyncio.shield(ended)
        if termination is None:
            self.record(
                record,
                TaskState.TASK_FAILED,
                reason=Reason.REASON_EXECUTOR_TERMINATED,
                message="Abnormal executor termination: unknown container",
            )
            return
        record.exit_status = termination.status
        state, reason, message = terminal_state(termination, record.kill_cause)
        healthy = False if record.kill_cause is KillCause.HEALTH_CHECK else None
        self.record(record, state, save=True, reason=reason, message=message, healthy=healthy)

    # -- killing -----------------------------------------------------------------

    def _stop_later(self, record: TaskRecord, cause: KillCause) -> None:
        self.background.spawn(self.stop(record, cause, None))

    async def kill(
        self, task_id: TaskID, kill_policy: KillPolicy | None, framework_id: FrameworkID | None
    ) -> TaskRecord:
        record = self.find(task_id, framework_id)
        if not record.ending:
            await self.stop(record, KillCause.REQUESTED, kill_policy)
        return record

    async def stop(
        self, record: TaskRecord, cause: KillCause, kill_policy: KillPolicy | None
    ) -> None:
        if record.ending or record.kill_cause is not None:
            return
        record.kill_cause = cause
        self.ledger.save(record)
        self.health.stop(record)
        if record.task.executor is not None:
            await self.executors.kill_task(record, kill_policy)
            return
        if cause is KillCause.MAX_COMPLETION_TIME:
            # As Mesos's executors do: no TASK_KILLING, and no grace for a task out of time.
            await self.dispatcher.destroy(record.container_id, timedelta(0))
            return
        if record.head_state is TaskState.TASK_RUNNING and wants_killing_state(record):
            self.record(record, TaskState.TASK_KILLING)
        grace = self.configs.task_grace(record, kill_policy)
        await self.dispatcher.destroy(record.container_id, grace)

    async def wait(self, record: TaskRecord) -> TaskStatus:
        """Wait until ``record``'s terminal update is published."""
        finished: asyncio.Future[TaskStatus] = asyncio.get_running_loop().create_future()

        def listener(updated: TaskRecord, status: TaskStatus) -> None:
            if updated is record and updated.terminal and not finished.done():
                finished.set_result(status)

        unsubscribe = self.ledger.listen(listener)
        try:
            if record.terminal:
                assert record.latest_status is not None
                return record.latest_status
            return await finished
        finally:
            unsubscribe()

    # -- recovery ----------------------------------------------------------------

    def resume(self, record: TaskRecord) -> None:
        """Supervise a task whose container a containerizer recovered."""
        if record.state not in (TaskState.TASK_RUNNING, TaskState.TASK_KILLING):
            record.launched_at = record.launched_at or time.time()
            self.running(record, None)
        else:
            running = next(
                (s for s in reversed(record.statuses) if s.state is TaskState.TASK_RUNNING), None
            )
            self.supervise(record, running)
        if record.kill_cause is not None:
            cause, record.kill_cause = record.kill_cause, None
            self.background.spawn(self.stop(record, cause, None))
        self.background.spawn(self.follow(record, self.dispatcher.ended(record.container_id)))


def wants_killing_state(record: TaskRecord) -> bool:
    return any(
        capability.type is FrameworkCapabilityType.TASK_KILLING_STATE
        for capability in record.framework.capabilities
    )
