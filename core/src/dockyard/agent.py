"""The agent: runs tasks through the dispatcher, records every status update, and
recovers its tasks after a restart.

Statuses are checkpointed before anyone is told about them, so after a crash the
record on disk is never behind what a subscriber saw.
"""

from __future__ import annotations

import asyncio
import copy
import getpass
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard.checkpoint import write_atomic
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    Launched,
    LaunchError,
    RecoveredContainer,
    StartupError,
    Termination,
)
from dockyard.discovery import CONTAINERIZERS, FETCHERS
from dockyard.dispatcher import Dispatcher, Stage, StageObserver, container_key
from dockyard.executors import Executors
from dockyard.flags import Flags
from dockyard.health import HealthVerdicts, check_health, probe_for
from dockyard.host import PluginHost
from dockyard.id_rules import check_agent_paths
from dockyard.messages import (
    ContainerID,
    ContainerStatus,
    FrameworkCapabilityType,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    LaunchContainer,
    Reason,
    ResourceStatistics,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from dockyard.sandbox import create_sandbox, task_sandbox
from dockyard.standalone import ContainerNotFoundError, StandaloneContainers
from dockyard.statuses import KillCause, make_status, terminal_state
from dockyard.taskstore import TaskRecord, TaskStore
from dockyard.units import format_duration
from dockyard.validation import validate_task

log = logging.getLogger(__name__)

DEFAULT_FRAMEWORK_ID = "dockyard"

StatusListener = Callable[[TaskRecord, TaskStatus], None]


class TaskNotFoundError(LookupError):
    pass


class TaskConflictError(ValueError):
    pass


def default_framework() -> FrameworkInfo:
    return FrameworkInfo(
        user=getpass.getuser(), name="dockyard", id=FrameworkID(value=DEFAULT_FRAMEWORK_ID)
    )


def duration(info_nanoseconds: int) -> timedelta:
    return timedelta(microseconds=info_nanoseconds / 1000)


class Agent:
    def __init__(self, flags: Flags, host: PluginHost) -> None:
        self.flags = flags
        self.host = host
        self.work_dir = Path(flags.work_dir)
        self.meta_dir = self.work_dir / "meta"
        self.agent_id = ""
        self.endpoint: str | None = None
        """``ip:port`` once the HTTP API serves; exported as MESOS_AGENT_ENDPOINT."""
        self.store = TaskStore(self.meta_dir / "tasks")
        self.standalone = StandaloneContainers(self.work_dir, self.meta_dir)
        self.executors = Executors(self)
        self.dispatcher = Dispatcher(host, [], [])
        self._records: dict[str, TaskRecord] = {}
        self._listeners: list[StatusListener] = []
        self._running: set[asyncio.Task[None]] = set()
        self._started: list[str] = []
        self._health_checks: dict[str, asyncio.Task[None]] = {}

    # -- start-up and shut-down ------------------------------------------------

    async def start(self) -> None:
        """Check the enabled plugins, start them, and recover checkpointed tasks."""
        containerizers = self._enabled_containerizers()
        fetchers = self.host.names(FETCHERS)
        self.agent_id = self._load_or_create_agent_id()
        check_agent_paths(self.work_dir, self.agent_id)
        self.dispatcher = Dispatcher(self.host, containerizers, fetchers)
        for name in [*containerizers, *fetchers]:
            state_dir = self.meta_dir / "plugins" / name
            state_dir.mkdir(parents=True, exist_ok=True)
            context = AgentContext(
                flags=self.flags,
                agent_id=self.agent_id,
                work_dir=self.work_dir,
                state_dir=state_dir,
            )
            await self.host.start(name, context)
            self._started.append(name)
        await self._recover()

    async def stop(self) -> None:
        """Stop supervising; containers keep running and are recovered next start."""
        for running in list(self._running):
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        for name in reversed(self._started):
            try:
                await self.host.stop(name)
            except Exception:
                log.exception("stopping plugin %s", name)
        self._started.clear()

    @property
    def enabled_plugins(self) -> list[str]:
        """The plugins started by this agent, in start order."""
        return list(self._started)

    def _enabled_containerizers(self) -> list[str]:
        requested: list[str] = list(self.flags.containerizers)
        installed = self.host.names(CONTAINERIZERS)
        duplicates = sorted({name for name in requested if requested.count(name) > 1})
        if duplicates:
            raise StartupError(
                f"Duplicate entries found in --containerizers: {', '.join(duplicates)}"
            )
        unknown = [name for name in requested if name not in installed]
        if unknown:
            broken = [b.describe() for b in self.host.broken if b.info.name in unknown]
            raise StartupError(
                f"Unknown containerizer(s) in --containerizers: {', '.join(unknown)}; "
                f"installed: {', '.join(installed) or 'none'}"
                + "".join(f"\n  {line}" for line in broken)
            )
        if not requested:
            raise StartupError("--containerizers must name at least one containerizer")
        return requested

    def _load_or_create_agent_id(self) -> str:
        path = self.meta_dir / "agent_id"
        if path.exists():
            return path.read_text().strip()
        agent_id = f"{uuid.uuid4()}-S0"
        write_atomic(path, agent_id.encode(), mode=0o644)
        return agent_id

    # -- status updates --------------------------------------------------------

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` on every status update; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def record_status(self, record: TaskRecord, state: TaskState, **fields: object) -> TaskStatus:
        """Record an update the agent itself makes (source SOURCE_AGENT)."""
        container_status = fields.get("container_status")
        if not isinstance(container_status, ContainerStatus):
            fields["container_status"] = ContainerStatus(container_id=record.container_id)
        elif container_status.container_id is None:
            container_status.container_id = record.container_id
        status = make_status(
            record.task.task_id,
            state,
            agent_id=self.agent_id,
            executor_id=record.executor_id,
            **fields,  # type: ignore[arg-type]
        )
        self.append_status(record, status)
        return status

    def append_status(self, record: TaskRecord, status: TaskStatus) -> None:
        """Checkpoint ``status``, then tell the listeners: never the other way round."""
        record.statuses.append(status)
        self.store.save(record)
        if record.terminal:
            self._stop_health_checks(record)
        for listener in list(self._listeners):
            try:
                listener(record, status)
            except Exception:
                log.exception("status listener failed")

    # -- tasks -----------------------------------------------------------------

    def tasks(self) -> list[TaskRecord]:
        return list(self._records.values())

    def find_task(self, task_id: TaskID, framework_id: FrameworkID | None = None) -> TaskRecord:
        matches = [
            record
            for record in self._records.values()
            if record.task.task_id == task_id
            and (framework_id is None or record.framework.id == framework_id)
        ]
        live = [record for record in matches if not record.terminal]
        if live or matches:
            return (live or matches)[-1]
        raise TaskNotFoundError(f"Task '{task_id.value}' is unknown")

    async def launch_task(
        self, task: TaskInfo, framework: FrameworkInfo | None = None
    ) -> TaskRecord:
        """Validate and start a task; returns once TASK_STAGING is recorded.

        Invalid input raises MessageError (naming the field) before anything is
        created on disk; the launch itself proceeds in the background.
        """
        framework = framework or default_framework()
        if framework.id is None:
            framework.id = FrameworkID(value=DEFAULT_FRAMEWORK_ID)
        validate_task(task)
        for record in self._records.values():
            if (
                record.task.task_id == task.task_id
                and record.framework.id == framework.id
                and not record.terminal
            ):
                raise TaskConflictError(
                    f"task.task_id: task '{task.task_id.value}' is already running"
                )
        if task.container is None and self.flags.default_container_info is not None:
            task.container = copy.deepcopy(self.flags.default_container_info)
        container_id = ContainerID(value=str(uuid.uuid4()))
        sandbox = task_sandbox(
            self.work_dir, self.agent_id, framework.id.value, task.task_id.value, container_id.value
        )
        record = TaskRecord(
            task=task,
            framework=framework,
            executor_id=task.task_id.value,
            container_id=container_id,
            sandbox=sandbox,
        )
        executor = self.executors.place(record) if task.executor is not None else None
        self._records[record.key] = record
        self.record_status(record, TaskState.TASK_STAGING)
        if executor is None:
            self.spawn(self._run(record))
        elif executor.subscribed.is_set():
            self.executors.deliver(executor, record)
        return record

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        running = asyncio.create_task(coroutine)
        self._running.add(running)
        running.add_done_callback(self._running.discard)

    def may_switch_user(self) -> bool:
        """Tasks run as their user only when the agent is root and --switch_user is on."""
        return os.geteuid() == 0 and bool(self.flags.switch_user)

    def _user_of(self, record: TaskRecord) -> str | None:
        assert record.task.command is not None
        user = record.task.command.user or record.framework.user
        return user if self.may_switch_user() and user else None

    def _config_of(self, record: TaskRecord) -> ContainerConfig:
        task = record.task
        assert task.command is not None
        environment = dict(self.flags.executor_environment_variables or {})
        environment.update(
            MESOS_FRAMEWORK_ID=record.framework.id.value if record.framework.id else "",
            MESOS_EXECUTOR_ID=record.executor_id,
            MESOS_TASK_ID=task.task_id.value,
            MESOS_DIRECTORY=str(record.sandbox),
        )
        if self.endpoint:
            environment["MESOS_AGENT_ENDPOINT"] = self.endpoint
        return ContainerConfig(
            container_id=record.container_id,
            command=task.command,
            container_info=task.container,
            resources=list(task.resources),
            limits=dict(task.limits),
            sandbox=record.sandbox,
            user=self._user_of(record),
            environment=environment,
            kill_grace_period=self._grace_period(record, None),
            task_info=task,
            framework_info=record.framework,
        )

    async def _run(self, record: TaskRecord) -> None:
        if record.kill_cause is not None:
            self.record_status(
                record,
                TaskState.TASK_KILLED,
                reason=Reason.REASON_TASK_KILLED_DURING_LAUNCH,
                message="Task killed before it was launched",
            )
            return
        config = self._config_of(record)
        timeout: timedelta = self.flags.executor_registration_timeout
        deadline = asyncio.get_running_loop().call_later(
            timeout.total_seconds(),
            lambda: self.spawn(self._stop_task(record, KillCause.REGISTRATION_TIMEOUT, None)),
        )
        try:
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
            deadline.cancel()
        record.handle = launched.handle
        record.launched_at = time.time()
        self._running_status(record, launched)
        await self._follow(record, self.dispatcher.ended(record.container_id))

    def _observer(self, record: TaskRecord) -> StageObserver:
        async def observe(stage: Stage, containerizer: str) -> None:
            if stage is Stage.SELECTED:
                record.containerizer = containerizer
                self.store.save(record)
            elif stage is Stage.PREPARED:
                self.record_status(record, TaskState.TASK_STARTING)

        return observe

    def _launch_failed(self, record: TaskRecord, error: str) -> None:
        if record.kill_cause is KillCause.REGISTRATION_TIMEOUT:
            timeout = format_duration(self.flags.executor_registration_timeout)
            self.record_status(
                record,
                TaskState.TASK_FAILED,
                reason=Reason.REASON_EXECUTOR_REGISTRATION_TIMEOUT,
                message=f"Container did not start within {timeout} "
                "(--executor_registration_timeout; fetch and image pull included)",
            )
            return
        if record.kill_cause is KillCause.REQUESTED:
            self.record_status(
                record,
                TaskState.TASK_KILLED,
                reason=Reason.REASON_TASK_KILLED_DURING_LAUNCH,
                message=f"Task killed during launch: {error}",
            )
            return
        self.record_status(
            record,
            TaskState.TASK_FAILED,
            reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
            message=f"Failed to launch container: {error}",
        )

    def _running_status(self, record: TaskRecord, launched: Launched | None) -> None:
        self.record_status(
            record,
            TaskState.TASK_RUNNING,
            data=launched.data if launched else None,
            container_status=launched.container_status if launched else None,
        )
        self._arm_max_completion_time(record)
        self._start_health_checks(record)

    # -- health checks -----------------------------------------------------------

    def _start_health_checks(self, record: TaskRecord) -> None:
        check = record.task.health_check
        if check is None or record.task.executor is not None or record.key in self._health_checks:
            return
        running = record.latest_status

        async def run_in_container(time_limit: timedelta) -> int | None:
            assert check is not None
            assert check.command is not None
            return await self.dispatcher.exec_in_container(
                record.container_id, check.command, time_limit
            )

        verdicts = HealthVerdicts(
            changed=lambda healthy: self._health_changed(record, healthy),
            kill=lambda: self.spawn(self._stop_task(record, KillCause.HEALTH_CHECK, None)),
        )
        checking = asyncio.create_task(
            check_health(
                check,
                probe_for(check, running, run_in_container, frozenset({self.flags.ip})),
                verdicts,
            )
        )
        self._health_checks[record.key] = checking

    def _stop_health_checks(self, record: TaskRecord) -> None:
        checking = self._health_checks.pop(record.key, None)
        if checking is not None and checking is not asyncio.current_task():
            checking.cancel()

    def _health_changed(self, record: TaskRecord, healthy: bool) -> None:
        """A TASK_RUNNING update with the new health; never once a kill has begun."""
        if record.state is not TaskState.TASK_RUNNING or record.kill_cause is not None:
            return
        running = next(s for s in reversed(record.statuses) if s.state is TaskState.TASK_RUNNING)
        self.record_status(
            record,
            TaskState.TASK_RUNNING,
            healthy=healthy,
            reason=Reason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
            container_status=running.container_status,
        )

    async def _follow(self, record: TaskRecord, ended: asyncio.Future[Termination] | None) -> None:
        """Wait for the container to end and send the terminal update."""
        termination = None if ended is None else await asyncio.shield(ended)
        if termination is None:
            self.record_status(
                record,
                TaskState.TASK_FAILED,
                reason=Reason.REASON_EXECUTOR_TERMINATED,
                message="Abnormal executor termination: unknown container",
            )
            return
        record.exit_status = termination.status
        state, reason, message = terminal_state(termination, record.kill_cause)
        healthy = False if record.kill_cause is KillCause.HEALTH_CHECK else None
        self.record_status(record, state, reason=reason, message=message, healthy=healthy)

    def _arm_max_completion_time(self, record: TaskRecord) -> None:
        limit = record.task.max_completion_time
        if limit is None or record.launched_at is None:
            return
        deadline = record.launched_at + limit.nanoseconds / 1e9
        delay = max(0.0, deadline - time.time())
        loop = asyncio.get_running_loop()
        loop.call_later(
            delay, lambda: self.spawn(self._stop_task(record, KillCause.MAX_COMPLETION_TIME, None))
        )

    def _grace_period(self, record: TaskRecord, kill_policy: KillPolicy | None) -> timedelta:
        for policy in (kill_policy, record.task.kill_policy):
            if policy is not None and policy.grace_period is not None:
                return duration(policy.grace_period.nanoseconds)
        grace: timedelta = self.flags.executor_shutdown_grace_period
        return grace

    async def kill_task(
        self,
        task_id: TaskID,
        kill_policy: KillPolicy | None = None,
        framework_id: FrameworkID | None = None,
    ) -> TaskRecord:
        record = self.find_task(task_id, framework_id)
        if not record.terminal:
            await self._stop_task(record, KillCause.REQUESTED, kill_policy)
        return record

    async def _stop_task(
        self, record: TaskRecord, cause: KillCause, kill_policy: KillPolicy | None
    ) -> None:
        if record.terminal or record.kill_cause is not None:
            return
        record.kill_cause = cause
        self.store.save(record)
        self._stop_health_checks(record)
        if record.task.executor is not None:
            await self.executors.kill_task(record, kill_policy)
            return
        if record.state is TaskState.TASK_RUNNING and self._wants_killing_state(record):
            self.record_status(record, TaskState.TASK_KILLING)
        await self.dispatcher.destroy(record.container_id, self._grace_period(record, kill_policy))

    @staticmethod
    def _wants_killing_state(record: TaskRecord) -> bool:
        return any(
            capability.type is FrameworkCapabilityType.TASK_KILLING_STATE
            for capability in record.framework.capabilities
        )

    async def wait_task(self, record: TaskRecord) -> TaskStatus:
        """Wait until ``record`` reaches a terminal state."""
        finished = asyncio.get_running_loop().create_future()

        def listener(updated: TaskRecord, status: TaskStatus) -> None:
            if updated is record and updated.terminal and not finished.done():
                finished.set_result(status)

        unsubscribe = self.subscribe(listener)
        try:
            if record.terminal:
                assert record.latest_status is not None
                return record.latest_status
            result: TaskStatus = await finished
            return result
        finally:
            unsubscribe()

    async def cleanup(self) -> None:
        """``--recover=cleanup``: kill every container this agent still runs."""
        live = [record for record in self._records.values() if not record.terminal]
        await asyncio.gather(*(self._stop_task(r, KillCause.REQUESTED, None) for r in live))
        await asyncio.gather(*(self.wait_task(record) for record in live))
        for container in list(self.standalone.records.values()):
            if container.termination is None:
                await self.dispatcher.destroy(
                    container.container_id, self.flags.executor_shutdown_grace_period
                )
                await self.standalone.wait(container.container_id)

    # -- standalone containers ---------------------------------------------------

    async def launch_container(self, launch: LaunchContainer) -> bool:
        """``LAUNCH_CONTAINER``; False if the container id is already known."""
        user = launch.command.user if launch.command else None
        if os.geteuid() != 0 or not self.flags.switch_user:
            user = None
        return await self.standalone.launch(self.dispatcher, launch, user)

    async def wait_container(self, container_id: ContainerID) -> Termination:
        """The termination of a standalone or task container; raises if unknown."""
        if container_key(container_id) in self.standalone.records:
            return await self.standalone.wait(container_id)
        for record in self._records.values():
            if record.container_id == container_id:
                await self.wait_task(record)
                return Termination(
                    status=record.exit_status,
                    state=record.state,
                    reason=record.latest_status.reason if record.latest_status else None,
                    message=record.latest_status.message or "" if record.latest_status else "",
                )
        raise ContainerNotFoundError(f"Container {container_key(container_id)} cannot be found")

    async def usage(self, container_id: ContainerID) -> ResourceStatistics | None:
        """Resource usage, or None if unknown or the plugin cannot tell (never raises)."""
        try:
            return await self.dispatcher.usage(container_id)
        except Exception:
            log.exception("usage of %s", container_key(container_id))
            return None

    async def kill_container(self, container_id: ContainerID, signal: int) -> bool:
        return await self.dispatcher.kill(container_id, signal)

    def remove_container(self, container_id: ContainerID) -> None:
        self.standalone.remove(container_id)

    # -- recovery --------------------------------------------------------------

    async def _recover(self) -> None:
        records = self.store.load_all()
        offers: dict[str, list[RecoveredContainer]] = {}
        pending = []
        for record in records:
            self._records[record.key] = record
            if record.terminal or record.task.executor is not None:
                continue
            pending.append(record)
            if record.containerizer in self.dispatcher.containerizers:
                config = self._config_of(record)
                offers.setdefault(record.containerizer, []).append(
                    RecoveredContainer(config=config, handle=record.handle)
                )
        executors = self.executors.recovery_offers()
        for executor, offer in executors:
            if executor.containerizer in self.dispatcher.containerizers:
                offers.setdefault(executor.containerizer, []).append(offer)
        standalone = self.standalone.load()
        for container in standalone:
            if container.containerizer in self.dispatcher.containerizers:
                offers.setdefault(container.containerizer, []).append(
                    self.standalone.offer(container)
                )
        claimed = await self.dispatcher.recover(offers)
        for container in standalone:
            claim = container_key(container.container_id) in claimed
            self.standalone.resume(self.dispatcher, container, claim)
        for executor, _ in executors:
            self.executors.resume(executor, container_key(executor.container_id) in claimed)
        for record in pending:
            if container_key(record.container_id) in claimed:
                self._resume(record)
            else:
                self.record_status(
                    record,
                    TaskState.TASK_FAILED,
                    reason=Reason.REASON_EXECUTOR_TERMINATED,
                    message=self._lost_message(record),
                )

    def _lost_message(self, record: TaskRecord) -> str:
        if record.containerizer is None:
            return "The agent restarted before the task's container was launched"
        if record.containerizer not in self.dispatcher.containerizers:
            return (
                f"Containerizer '{record.containerizer}' that launched the task is not "
                "enabled after the agent restarted"
            )
        return f"Containerizer '{record.containerizer}' did not recover the task's container"

    def _resume(self, record: TaskRecord) -> None:
        if record.state not in (TaskState.TASK_RUNNING, TaskState.TASK_KILLING):
            record.launched_at = record.launched_at or time.time()
            self._running_status(record, None)
        else:
            self._arm_max_completion_time(record)
            self._start_health_checks(record)
        if record.kill_cause is not None:
            cause, record.kill_cause = record.kill_cause, None
            self.spawn(self._stop_task(record, cause, None))
        self.spawn(self._follow(record, self.dispatcher.ended(record.container_id)))
