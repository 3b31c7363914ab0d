"""Tasks that bring their own executor (``TaskInfo.executor``), and the executors.

An executor is a container launched by whichever containerizer accepts the
ExecutorInfo's ContainerInfo. It subscribes to ``/api/v1/executor`` and receives
its tasks as LAUNCH events; the status updates it sends are checkpointed and
then acknowledged, so an update is never lost nor counted twice, also across an
agent restart (the executor resends what was not acknowledged).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from dockyard import recordio, uuids
from dockyard.background import Background
from dockyard.checkpoint import discard_partial_writes, read_json, write_json
from dockyard.containers import ContainerConfig, LaunchError, RecoveredContainer
from dockyard.dispatcher import Dispatcher, Stage, container_key
from dockyard.executor_tokens import ExecutorClaims, executor_tokens, token_environment
from dockyard.flags import Flags
from dockyard.launch_config import LaunchConfigs
from dockyard.ledger import Ledger, TaskRecord
from dockyard.messages import (
    AgentID,
    AgentInfo,
    ContainerID,
    ContainerStatus,
    ExecutorAcknowledged,
    ExecutorCall,
    ExecutorEvent,
    ExecutorEventType,
    ExecutorID,
    ExecutorInfo,
    ExecutorKill,
    ExecutorLaunch,
    ExecutorSubscribed,
    FrameworkCapabilityType,
    FrameworkInfo,
    KillPolicy,
    Reason,
    StatusSource,
    TaskState,
    TaskStatus,
    dump,
    load,
)
from dockyard.redaction import redact_secrets
from dockyard.sandbox import create_sandbox, task_sandbox
from dockyard.statuses import KillCause, agent_status
from dockyard.units import format_duration

log = logging.getLogger(__name__)


class UnknownExecutorError(LookupError):
    pass


class InvalidUpdateError(ValueError):
    pass


@dataclass(frozen=True)
class Ending:
    """Why the agent destroys an executor: what its live tasks end with once it is gone."""

    reason: Reason
    message: str
    state: TaskState = TaskState.TASK_FAILED


@dataclass(eq=False)
class ExecutorRecord:
    executor: ExecutorInfo
    framework: FrameworkInfo
    container_id: ContainerID
    sandbox: Path
    containerizer: str | None = None
    handle: dict[str, Any] = field(default_factory=dict)
    terminated: bool = False
    stream: asyncio.Queue[bytes | None] | None = None
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    shutting_down: bool = False
    ending: Ending | None = None
    in_flight: set[bytes] = field(default_factory=set)
    """uuids of updates accepted but not yet durable (a resent one is not taken twice)."""

    @property
    def key(self) -> str:
        assert self.framework.id is not None
        return f"{self.framework.id.value}/{self.executor.executor_id.value}"

    def send(self, event: ExecutorEvent) -> bool:
        if self.stream is None:
            return False
        self.stream.put_nowait(recordio.encode(event))
        return True


class Executors:
    """Launches executors, feeds them tasks, and records what they report."""

    def __init__(
        self,
        *,
        flags: Flags,
        work_dir: Path,
        meta_dir: Path,
        ledger: Ledger,
        dispatcher: Dispatcher,
        configs: LaunchConfigs,
        background: Background,
    ) -> None:
        self.flags = flags
        self.work_dir = work_dir
        self.directory = meta_dir / "executors"
        self.ledger = ledger
        self.dispatcher = dispatcher
        self.configs = configs
        self.background = background
        self.live: dict[str, ExecutorRecord] = {}
        self.tokens = executor_tokens(flags, meta_dir)

    # -- persistence ----------------------------------------------------------

    def _save(self, executor: ExecutorRecord) -> None:
        write_json(
            self.directory / f"{container_key(executor.container_id)}.json",
            {
                "executor": redact_secrets(dump(executor.executor)),
                "framework": dump(executor.framework),
                "container_id": dump(executor.container_id),
                "sandbox": str(executor.sandbox),
                "containerizer": executor.containerizer,
                "handle": executor.handle,
                "terminated": executor.terminated,
            },
        )

    def _load(self) -> list[ExecutorRecord]:
        discard_partial_writes(self.directory)
        loaded = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                data = read_json(path)
                loaded.append(
                    ExecutorRecord(
                        executor=load(ExecutorInfo, data["executor"], path="executor"),
                        framework=load(FrameworkInfo, data["framework"], path="framework"),
                        container_id=load(ContainerID, data["container_id"], path="container_id"),
                        sandbox=Path(data["sandbox"]),
                        containerizer=data["containerizer"],
                        handle=data["handle"],
                        terminated=data["terminated"],
                    )
                )
            except Exception as error:
                log.error("ignoring unreadable executor checkpoint %s: %s", path, error)
        return [executor for executor in loaded if not executor.terminated]

    # -- tasks ------------------------------------------------------------------

    def tasks_of(self, executor: ExecutorRecord) -> list[TaskRecord]:
        return [
            record
            for record in self.ledger.tasks()
            if record.container_id == executor.container_id and not record.ending
        ]

    def assign(self, record: TaskRecord) -> tuple[ExecutorRecord, bool]:
        """Give a new task its executor (a new one when none runs); True if it is new.

        The caller records TASK_STAGING, then calls :meth:`start` for a new executor,
        or :meth:`deliver` if the executor has already subscribed; otherwise the task
        goes out when it subscribes.
        """
        task = record.task
        assert task.executor is not None
        key = f"{record.framework_id}/{task.executor.executor_id.value}"
        executor = self.live.get(key)
        new = executor is None
        if executor is None:
            info = copy.deepcopy(task.executor)
            if info.container is None and self.flags.default_container_info is not None:
                info.container = copy.deepcopy(self.flags.default_container_info)
            container_id = ContainerID(value=str(uuids.uuid4()))
            executor = ExecutorRecord(
                executor=info,
                framework=record.framework,
                container_id=container_id,
                sandbox=task_sandbox(
                    self.work_dir,
                    self.configs.agent_id,
                    record.framework_id,
                    info.executor_id.value,
                    container_id.value,
                ),
            )
            self.live[key] = executor
        record.container_id = executor.container_id
        record.sandbox = executor.sandbox
        record.executor_id = executor.executor.executor_id.value
        return executor, new

    def start(self, executor: ExecutorRecord) -> None:
        """Launch a new executor (its first task is recorded)."""
        self.background.spawn(self._launch(executor))

    def abandon(self, executor: ExecutorRecord) -> None:
        """Forget a new executor whose first task could not be recorded."""
        if self.live.get(executor.key) is executor and not self.tasks_of(executor):
            del self.live[executor.key]

    def deliver(self, executor: ExecutorRecord, record: TaskRecord) -> None:
        executor.send(
            ExecutorEvent(type=ExecutorEventType.LAUNCH, launch=ExecutorLaunch(task=record.task))
        )

    def config(self, executor: ExecutorRecord) -> ContainerConfig:
        config = self.configs.for_executor(executor, self.tasks_of(executor))
        assert executor.framework.id is not None
        ids = (executor.framework.id.value, executor.executor.executor_id.value)
        claims = ExecutorClaims(*ids, executor.container_id.value)
        config.environment.update(token_environment(self.tokens, claims))
        return config

    async def _launch(self, executor: ExecutorRecord) -> None:
        config = self.config(executor)

        async def observe(stage: Stage, containerizer: str) -> None:
            if stage is Stage.SELECTED:
                executor.containerizer = containerizer
                self._save(executor)

        timeout: timedelta = self.flags.executor_registration_timeout
        try:
            create_sandbox(executor.sandbox, config.user)
            launched = await self.dispatcher.launch(config, observe=observe)
        except Exception as error:
            if not isinstance(error, LaunchError):
                log.exception("launch of executor %s failed", executor.key)
            recorded = self._fail_tasks(
                executor,
                Reason.REASON_CONTAINER_LAUNCH_FAILED,
                f"Failed to launch container: {error}",
            )
            self._ended(executor, recorded)
            return
        executor.handle = launched.handle
        self._save(executor)
        self._follow(executor)
        try:
            await asyncio.wait_for(executor.subscribed.wait(), timeout.total_seconds())
        except TimeoutError:
            await self._destroy(
                executor,
                Ending(
                    Reason.REASON_EXECUTOR_REGISTRATION_TIMEOUT,
                    f"Executor did not register within {format_duration(timeout)}",
                ),
            )

    async def _destroy(self, executor: ExecutorRecord, ending: Ending) -> None:
        """Destroy the executor's container; its tasks end as ``ending`` says once it is gone."""
        executor.ending = ending
        await self.dispatcher.destroy(executor.container_id, timedelta(0))

    def _follow(self, executor: ExecutorRecord) -> None:
        ended = self.dispatcher.ended(executor.container_id)

        async def follow() -> None:
            termination = None if ended is None else await asyncio.shield(ended)
            ending = executor.ending
            if ending is None:
                message = "Executor terminated"
                if termination is not None and termination.message:
                    message += f": {termination.message}"
                ending = Ending(Reason.REASON_EXECUTOR_TERMINATED, message)
            recorded = self._fail_tasks(executor, ending.reason, ending.message, ending.state)
            self._ended(executor, recorded)

        self.background.spawn(follow())

    def _ended(self, executor: ExecutorRecord, recorded: list[asyncio.Future[None]]) -> None:
        """Checkpoint the executor's end; its containerizer forgets it once ``recorded``
        (its tasks' terminal updates) are durable too."""
        executor.terminated = True
        self._save(executor)
        self.dispatcher.forget(executor.containerizer, executor.container_id, recorded)
        self.live.pop(executor.key, None)
        if executor.stream is not None:
            executor.stream.put_nowait(None)

    def _fail_tasks(
        self,
        executor: ExecutorRecord,
        reason: Reason,
        message: str,
        state: TaskState = TaskState.TASK_FAILED,
    ) -> list[asyncio.Future[None]]:
        """End the executor's live tasks; the futures complete once that is durable."""
        return [
            self._record(record, TaskState.TASK_KILLED, message=message)
            if record.kill_cause is KillCause.REQUESTED
            else self._record(record, state, reason=reason, message=message)
            for record in self.tasks_of(executor)
        ]

    def _record(self, record: TaskRecord, state: TaskState, **fields: Any) -> asyncio.Future[None]:
        return self.ledger.append(
            record, agent_status(record, state, self.configs.agent_id, **fields)
        )

    # -- the executor API ---------------------------------------------------------

    def find(self, call: ExecutorCall) -> ExecutorRecord:
        executor = self.live.get(f"{call.framework_id.value}/{call.executor_id.value}")
        if executor is None:
            raise UnknownExecutorError(
                f"Executor '{call.executor_id.value}' of framework "
                f"'{call.framework_id.value}' is not running on this agent"
            )
        return executor

    def subscribe(self, call: ExecutorCall) -> asyncio.Queue[bytes | None]:
        """Attach the executor's event stream; queue SUBSCRIBED and its undelivered tasks."""
        executor = self.find(call)
        if executor.stream is not None:
            executor.stream.put_nowait(None)  # a resubscription replaces the old stream
        executor.stream = asyncio.Queue()
        known = (
            {t.task_id for t in call.subscribe.unacknowledged_tasks} if call.subscribe else set()
        )
        for update in call.subscribe.unacknowledged_updates if call.subscribe else []:
            self._accept_update(executor, update.status)
        agent_info = AgentInfo(
            hostname=self.flags.hostname, id=AgentID(value=self.configs.agent_id)
        )
        executor.send(
            ExecutorEvent(
                type=ExecutorEventType.SUBSCRIBED,
                subscribed=ExecutorSubscribed(
                    executor_info=executor.executor,
                    framework_info=executor.framework,
                    agent_info=agent_info,
                    container_id=executor.container_id,
                ),
            )
        )
        for record in self.tasks_of(executor):
            never_heard = all(s.source is not StatusSource.SOURCE_EXECUTOR for s in record.statuses)
            if never_heard and record.task.task_id not in known:
                self.deliver(executor, record)
        executor.subscribed.set()
        return executor.stream

    def update(self, call: ExecutorCall) -> None:
        assert call.update is not None
        self._accept_update(self.find(call), call.update.status)

    def _accept_update(self, executor: ExecutorRecord, status: TaskStatus) -> None:
        """Record the update, then ACK it once durable (Mesos: checkpoint, then acknowledge)."""
        record = next(
            (
                r
                for r in self.ledger.tasks()
                if r.container_id == executor.container_id and r.task.task_id == status.task_id
            ),
            None,
        )
        if record is None:
            raise InvalidUpdateError(
                f"Task '{status.task_id.value}' is not a task of this executor"
            )
        uuid = status.uuid
        assert uuid is not None
        if uuid in executor.in_flight:
            return  # resent before we could ACK: the ACK follows the first copy
        known = any(seen.uuid == uuid for seen in record.statuses)
        if known or record.ending:
            self._acknowledge(executor, status)
            return
        # The agent owns who and where an update comes from; the executor cannot forge it.
        status.source = StatusSource.SOURCE_EXECUTOR
        status.agent_id = AgentID(value=self.configs.agent_id)
        status.executor_id = ExecutorID(value=record.executor_id)
        if status.container_status is None:
            status.container_status = ContainerStatus()
        status.container_status.container_id = executor.container_id
        durable = self.ledger.append(record, status)
        executor.in_flight.add(uuid)

        def acknowledge(_: object) -> None:
            executor.in_flight.discard(uuid)
            if not durable.cancelled() and durable.exception() is None:
                self._acknowledge(executor, status)

        durable.add_done_callback(acknowledge)

    def _acknowledge(self, executor: ExecutorRecord, status: TaskStatus) -> None:
        assert status.uuid is not None
        executor.send(
            ExecutorEvent(
                type=ExecutorEventType.ACKNOWLEDGED,
                acknowledged=ExecutorAcknowledged(task_id=status.task_id, uuid=status.uuid),
            )
        )
        if not self.tasks_of(executor) and not executor.in_flight:
            self.background.spawn(self.shut_down(executor))

    async def shut_down(self, executor: ExecutorRecord) -> None:
        """SHUTDOWN, then destroy the container if it is still there after the grace."""
        if executor.shutting_down or executor.terminated:
            return
        executor.shutting_down = True
        executor.send(ExecutorEvent(type=ExecutorEventType.SHUTDOWN))
        ended = self.dispatcher.ended(executor.container_id)
        if ended is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(ended), self.configs.executor_grace(executor).total_seconds()
                )
            except TimeoutError:
                await self.dispatcher.destroy(executor.container_id, timedelta(0))

    def disconnected(self, executor: ExecutorRecord, stream: asyncio.Queue[bytes | None]) -> None:
        if executor.stream is stream:
            executor.stream = None

    async def kill_task(self, record: TaskRecord, kill_policy: KillPolicy | None) -> None:
        executor = next(
            (e for e in self.live.values() if e.container_id == record.container_id), None
        )
        if executor is None or not executor.subscribed.is_set():
            self._record(
                record,
                TaskState.TASK_KILLED,
                reason=Reason.REASON_TASK_KILLED_DURING_LAUNCH,
                message="Killed before delivery to the executor",
            )
            if executor is not None and not self.tasks_of(executor):
                await self.dispatcher.destroy(executor.container_id, timedelta(0))
            return
        executor.send(
            ExecutorEvent(
                type=ExecutorEventType.KILL,
                kill=ExecutorKill(task_id=record.task.task_id, kill_policy=kill_policy),
            )
        )

    # -- recovery ---------------------------------------------------------------------

    def recovery_offers(self) -> list[tuple[ExecutorRecord, RecoveredContainer]]:
        offers = []
        for executor in self._load():
            self.live[executor.key] = executor
            offers.append(
                (executor, RecoveredContainer(config=self.config(executor), handle=executor.handle))
            )
        return offers

    def resume(self, executor: ExecutorRecord, claimed: bool) -> None:
        if not claimed:
            recorded = self._fail_tasks(
                executor,
                Reason.REASON_EXECUTOR_TERMINATED,
                "The executor was not recovered after an agent restart",
            )
            self._ended(executor, recorded)
            return
        self._follow(executor)
        self.background.spawn(self._await_resubscription(executor))

    async def _await_resubscription(self, executor: ExecutorRecord) -> None:
        timeout: timedelta = self.flags.executor_reregistration_timeout
        try:
            await asyncio.wait_for(executor.subscribed.wait(), timeout.total_seconds())
        except TimeoutError:
            partition_aware = any(
                capability.type is FrameworkCapabilityType.PARTITION_AWARE
                for capability in executor.framework.capabilities
            )
            await self._destroy(
                executor,
                Ending(
                    Reason.REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
                    f"Executor did not reregister within {format_duration(timeout)}",
                    TaskState.TASK_GONE if partition_aware else TaskState.TASK_LOST,
                ),
            )
