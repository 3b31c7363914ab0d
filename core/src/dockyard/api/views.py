"""The agent's state in the shapes of Mesos's v1 operator API responses."""

from __future__ import annotations

from dockyard.agent import Agent
from dockyard.containers import Termination
from dockyard.ledger import TaskRecord
from dockyard.messages import (
    AgentID,
    ContainerEntry,
    ExecutorID,
    FrameworkEntry,
    GetContainersResponse,
    GetFrameworksResponse,
    GetStateResponse,
    GetTasksResponse,
    Task,
    WaitContainerResponse,
    dump,
    load,
)
from dockyard.redaction import redact_secrets


def task_view(agent: Agent, record: TaskRecord) -> Task:
    """A Mesos ``Task`` plus dockyard's ``container_id``, ``sandbox_directory`` and
    ``containerizer``."""
    task = load(type(record.task), redact_secrets(dump(record.task)))
    assert record.state is not None
    assert record.framework.id is not None
    latest = record.latest_status
    return Task(
        name=task.name,
        task_id=task.task_id,
        framework_id=record.framework.id,
        executor_id=ExecutorID(value=record.executor_id),
        agent_id=AgentID(value=agent.agent_id),
        state=record.state,
        resources=task.resources,
        limits=task.limits,
        statuses=list(record.statuses),
        status_update_state=latest.state if latest else None,
        status_update_uuid=latest.uuid if latest else None,
        labels=task.labels,
        discovery=task.discovery,
        container=task.container,
        health_check=task.health_check,
        check=task.check,
        kill_policy=task.kill_policy,
        user=task.command.user if task.command else None,
        container_id=record.container_id,
        sandbox_directory=str(record.sandbox),
        containerizer=record.containerizer,
    )


def get_tasks(agent: Agent) -> GetTasksResponse:
    records = agent.tasks()
    return GetTasksResponse(
        launched_tasks=[task_view(agent, r) for r in records if not r.terminal],
        completed_tasks=[task_view(agent, r) for r in records if r.terminal],
    )


def get_frameworks(agent: Agent) -> GetFrameworksResponse:
    live: dict[str, FrameworkEntry] = {}
    done: dict[str, FrameworkEntry] = {}
    for record in agent.tasks():
        assert record.framework.id is not None
        target = done if record.terminal else live
        target[record.framework.id.value] = FrameworkEntry(framework_info=record.framework)
    return GetFrameworksResponse(
        frameworks=list(live.values()),
        completed_frameworks=[entry for key, entry in done.items() if key not in live],
    )


def get_state(agent: Agent) -> GetStateResponse:
    return GetStateResponse(get_tasks=get_tasks(agent), get_frameworks=get_frameworks(agent))


async def get_containers(agent: Agent, show_standalone: bool) -> GetContainersResponse:
    entries = []
    for record in agent.tasks():
        if record.terminal:
            continue
        latest = record.latest_status
        entries.append(
            ContainerEntry(
                framework_id=record.framework.id,
                executor_id=ExecutorID(value=record.executor_id),
                executor_name=f"Command Executor (Task: {record.task.task_id.value})",
                container_id=record.container_id,
                container_status=latest.container_status if latest else None,
                resource_statistics=await agent.usage(record.container_id),
            )
        )
    if show_standalone:
        for container in agent.standalone.records.values():
            if container.termination is None:
                entries.append(
                    ContainerEntry(
                        container_id=container.container_id,
                        resource_statistics=await agent.usage(container.container_id),
                    )
                )
    return GetContainersResponse(containers=entries)


def wait_container(termination: Termination) -> WaitContainerResponse:
    status = termination.status
    return WaitContainerResponse(
        exit_status=status,
        state=termination.state,
        reason=termination.reason,
        message=termination.message or None,
    )
