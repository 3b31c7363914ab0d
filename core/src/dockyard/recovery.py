"""After a restart: reload the ledger, offer each containerizer its containers, and
give every task it does not reclaim (or whose record was damaged) a terminal update.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dockyard.containers import RecoveredContainer
from dockyard.dispatcher import Dispatcher, container_key
from dockyard.executors import Executors
from dockyard.launch_config import LaunchConfigs
from dockyard.ledger import Damaged, Ledger, TaskRecord
from dockyard.lifecycle import TaskLifecycle
from dockyard.messages import (
    ContainerID,
    FrameworkID,
    FrameworkInfo,
    Reason,
    TaskID,
    TaskInfo,
    TaskState,
)
from dockyard.sandbox import task_sandbox
from dockyard.standalone import StandaloneContainers
from dockyard.statuses import agent_status

log = logging.getLogger(__name__)


async def recover(
    *,
    work_dir: Path,
    ledger: Ledger,
    dispatcher: Dispatcher,
    configs: LaunchConfigs,
    lifecycle: TaskLifecycle,
    executors: Executors,
    standalone: StandaloneContainers,
) -> None:
    damaged, lost_file = ledger.open()
    offers: dict[str, list[RecoveredContainer]] = {name: [] for name in dispatcher.containerizers}
    pending = []
    for record in ledger.tasks():
        if record.terminal or record.task.executor is not None:
            continue
        pending.append(record)
        if record.containerizer in offers:
            offers[record.containerizer].append(
                RecoveredContainer(config=configs.for_task(record), handle=record.handle)
            )
    recovered_executors = executors.recovery_offers()
    for executor, offer in recovered_executors:
        if executor.containerizer in offers:
            offers[executor.containerizer].append(offer)
    containers = standalone.load()
    for container in containers:
        if container.containerizer in offers:
            offers[container.containerizer].append(standalone.offer(container))
    claimed = await dispatcher.recover(offers)
    for container in containers:
        standalone.resume(dispatcher, container, container_key(container.container_id) in claimed)
    for executor, _ in recovered_executors:
        executors.resume(executor, container_key(executor.container_id) in claimed)
    for record in pending:
        if container_key(record.container_id) in claimed:
            lifecycle.resume(record)
        else:
            lifecycle.record(
                record,
                TaskState.TASK_FAILED,
                reason=Reason.REASON_EXECUTOR_TERMINATED,
                message=lost_message(record, dispatcher),
            )
    for damage in damaged:
        await report_damaged(ledger, configs, work_dir, damage)
    if lost_file is not None:
        for damage in sandboxes_without_record(ledger, configs, work_dir, lost_file):
            await report_damaged(ledger, configs, work_dir, damage)
    await ledger.settled()


def lost_message(record: TaskRecord, dispatcher: Dispatcher) -> str:
    if record.containerizer is None:
        return "The agent restarted before the task's container was launched"
    if record.containerizer not in dispatcher.containerizers:
        return (
            f"Containerizer '{record.containerizer}' that launched the task is not "
            "enabled after the agent restarted"
        )
    return f"Containerizer '{record.containerizer}' did not recover the task's container"


async def report_damaged(
    ledger: Ledger, configs: LaunchConfigs, work_dir: Path, damage: Damaged
) -> None:
    """Replace a damaged record by a terminal one saying what happened and where it went."""
    record = TaskRecord(
        task=TaskInfo(name=damage.task_id, task_id=TaskID(value=damage.task_id)),
        framework=FrameworkInfo(
            user="", name=damage.framework_id, id=FrameworkID(value=damage.framework_id)
        ),
        executor_id=damage.task_id,
        container_id=ContainerID(value=damage.container_id),
        sandbox=task_sandbox(
            work_dir, configs.agent_id, damage.framework_id, damage.task_id, damage.container_id
        ),
    )
    status = agent_status(
        record,
        TaskState.TASK_FAILED,
        configs.agent_id,
        reason=Reason.REASON_EXECUTOR_TERMINATED,
        message=f"The agent's record of this task was damaged ({damage.problem}); it was "
        f"moved to {damage.quarantined_at} and the task's container was not recovered",
    )
    await ledger.insert(record, status)


def sandboxes_without_record(
    ledger: Ledger, configs: LaunchConfigs, work_dir: Path, lost_file: Path
) -> list[Damaged]:
    """The tasks a database that could not be read at all named, as far as the
    sandboxes tell (a command task's executor id is its task id)."""
    known = {container_key(record.container_id) for record in ledger.accepted()}
    frameworks = work_dir / "slaves" / configs.agent_id / "frameworks"
    found = []
    for runs in sorted(frameworks.glob("*/executors/*/runs")):
        executor_id = runs.parent.name
        framework_id = runs.parent.parent.parent.name
        for run in sorted(runs.iterdir()):
            if run.name == "latest" or run.is_symlink() or run.name in known:
                continue
            found.append(
                Damaged(
                    framework_id, executor_id, run.name, "the ledger could not be read", lost_file
                )
            )
    log.error("reporting %d tasks of the unreadable ledger from their sandboxes", len(found))
    return found
