"""What a container is launched with: the ContainerConfig of a task, an executor or a
standalone container, built in one place so the three cannot drift apart.

The same config is rebuilt at recovery, so it must depend only on what the
ledger keeps (the records) and the agent's flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from dockyard.containers import ContainerConfig
from dockyard.flags import Flags
from dockyard.ledger import TaskRecord
from dockyard.messages import CommandInfo, KillPolicy
from dockyard.units import format_duration

if TYPE_CHECKING:
    from dockyard.executors import ExecutorRecord


def duration(nanoseconds: int) -> timedelta:
    return timedelta(microseconds=nanoseconds / 1000)


@dataclass
class LaunchConfigs:
    flags: Flags
    agent_id: str = ""
    endpoint: str | None = None
    """``ip:port`` once the HTTP API serves; exported as MESOS_AGENT_ENDPOINT."""

    def may_switch_user(self) -> bool:
        """Tasks run as their user only when the agent is root and --switch_user is on."""
        return os.geteuid() == 0 and bool(self.flags.switch_user)

    def user(self, command: CommandInfo | None, default: str | None) -> str | None:
        user = (command.user if command else None) or default
        return user if self.may_switch_user() and user else None

    def base_environment(self) -> dict[str, str]:
        environment = dict(self.flags.executor_environment_variables or {})
        if self.endpoint:
            environment["MESOS_AGENT_ENDPOINT"] = self.endpoint
        return environment

    def default_grace(self) -> timedelta:
        grace: timedelta = self.flags.executor_shutdown_grace_period
        return grace

    def task_grace(self, record: TaskRecord, kill_policy: KillPolicy | None) -> timedelta:
        """The kill request's policy, else the task's, else the flag's."""
        for policy in (kill_policy, record.task.kill_policy):
            if policy is not None and policy.grace_period is not None:
                return duration(policy.grace_period.nanoseconds)
        return self.default_grace()

    def executor_grace(self, executor: ExecutorRecord) -> timedelta:
        grace = executor.executor.shutdown_grace_period
        return self.default_grace() if grace is None else duration(grace.nanoseconds)

    def for_task(self, record: TaskRecord) -> ContainerConfig:
        task = record.task
        assert task.command is not None
        environment = self.base_environment()
        environment.update(
            MESOS_FRAMEWORK_ID=record.framework_id,
            MESOS_EXECUTOR_ID=record.executor_id,
            MESOS_TASK_ID=task.task_id.value,
            MESOS_DIRECTORY=str(record.sandbox),
        )
        return ContainerConfig(
            container_id=record.container_id,
            command=task.command,
            container_info=task.container,
            resources=list(task.resources),
            limits=dict(task.limits),
            sandbox=record.sandbox,
            user=self.user(task.command, record.framework.user),
            environment=environment,
            kill_grace_period=self.task_grace(record, None),
            task_info=task,
            framework_info=record.framework,
        )

    def for_executor(self, executor: ExecutorRecord, tasks: list[TaskRecord]) -> ContainerConfig:
        info = executor.executor
        assert info.command is not None
        framework = executor.framework
        assert framework.id is not None
        grace = self.executor_grace(executor)
        environment = self.base_environment()
        environment.update(
            MESOS_FRAMEWORK_ID=framework.id.value,
            MESOS_EXECUTOR_ID=info.executor_id.value,
            MESOS_DIRECTORY=str(executor.sandbox),
            MESOS_SLAVE_ID=self.agent_id,
            MESOS_AGENT_ID=self.agent_id,
            MESOS_CHECKPOINT="1" if framework.checkpoint else "0",
            MESOS_HTTP_COMMAND_EXECUTOR="0",
            MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=format_duration(grace),
        )
        if framework.checkpoint:
            environment["MESOS_RECOVERY_TIMEOUT"] = "15mins"
            environment["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = format_duration(
                self.flags.executor_reregistration_timeout
            )
        resources = list(info.resources)
        for record in tasks:
            resources.extend(record.task.resources)
        return ContainerConfig(
            container_id=executor.container_id,
            command=info.command,
            container_info=info.container,
            resources=resources,
            sandbox=executor.sandbox,
            user=self.user(info.command, framework.user),
            environment=environment,
            kill_grace_period=grace,
            executor_info=info,
            framework_info=framework,
        )
