"""The reference process containerizer: a task's command as a supervised process.

It is what a process-based backend needs and nothing more, built on
:class:`~dockyard.supervision.ProcessSupervisor`: Mesos's command rules and environment
(:mod:`dockyard.supervision.command`), the task's user, its output where the container
logger says, a kill with grace, and ``recover`` that reports the real end of a task that
ran, or ended, while the agent was down. Subclass it and override :meth:`supports` (which
tasks it takes), :meth:`command_line` (to wrap the command, e.g. in ``unshare``) or
:meth:`environment`; the tutorial's ``hello`` backend and dockyard's own test plugins do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from dockyard import hookimpl
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    Launched,
    LaunchError,
    RecoveredContainer,
    StartupError,
    Support,
    Termination,
)
from dockyard.messages import ContainerID, ContainerStatus, ContainerType
from dockyard.ownership import hand_over
from dockyard.supervision import command
from dockyard.supervision.client import SupervisorError
from dockyard.supervision.processes import ProcessSupervisor, SupervisedProcess

DEFAULT_GRACE_PERIOD = timedelta(seconds=5)
"""Mesos's ``--executor_shutdown_grace_period`` default."""


class SubprocessContainerizer:
    """Runs each task's command as a process in its sandbox, crash-safe."""

    def __init__(self) -> None:
        self._supervisor: ProcessSupervisor | None = None
        self.grace_periods: dict[str, timedelta | None] = {}
        self.default_grace_period = DEFAULT_GRACE_PERIOD

    # -- what to run (override these; mark an overriding hook with @hookimpl too) ------

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        """Tasks without a ContainerInfo, or MESOS ones without an image."""
        info = config.container_info
        if info is None:
            return Support.yes()
        if info.type is not ContainerType.MESOS:
            return Support.no(f"cannot run {info.type.name} containers")
        if info.mesos is not None and info.mesos.image is not None:
            return Support.no("container images are not supported")
        return Support.yes()

    def command_line(self, config: ContainerConfig) -> tuple[str, list[str]]:
        """(executable, argv) by Mesos's rules: ``/bin/sh -c value``, or ``value`` with
        ``arguments`` as the whole argv. Raises LaunchError for a command without value."""
        return command.command_line(config.command)

    def environment(self, config: ContainerConfig) -> dict[str, str]:
        """Mesos's: a default PATH, MESOS_SANDBOX and the task's ids, the agent's variables,
        then the task's own (which win)."""
        return command.environment(config)

    # -- hooks ------------------------------------------------------------------------

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        grace = context.flags.get("executor_shutdown_grace_period")
        self.default_grace_period = DEFAULT_GRACE_PERIOD if grace is None else grace
        cgroups_under = Path("dockyard") / context.agent_id / context.state_dir.name
        self._supervisor = ProcessSupervisor(context.state_dir, cgroups_under=cgroups_under)
        try:
            await self._supervisor.start()
        except (OSError, SupervisorError) as error:
            raise StartupError(f"cannot start the process supervisor: {error}") from error

    @hookimpl
    async def stop(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.close()

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        key = str(config.container_id)
        executable, argv = self.command_line(config)
        user = command.identity(config.user)
        output = config.output_or_sandbox()
        try:
            if user is not None:
                hand_over(config.sandbox, user.uid, user.gid)
            process = await self.started_supervisor().spawn(
                key,
                argv,
                executable=executable,
                cwd=config.sandbox,
                env=self.environment(config),
                stdout=command.output_spec(output.stdout),
                stderr=command.output_spec(output.stderr),
                user=user,
            )
        except (SupervisorError, OSError) as error:
            raise LaunchError(str(error)) from error
        self.grace_periods[key] = config.kill_grace_period
        status = ContainerStatus(container_id=config.container_id, executor_pid=process.pid)
        return Launched(handle=process.handle, container_status=status)

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        process = self.process_of(container_id)
        if process is None:
            return None
        return (await process.wait()).termination()

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        process = self.process_of(container_id)
        if process is None:
            return None
        grace = next(
            period
            for period in (
                grace_period,
                self.grace_periods.get(str(container_id)),
                self.default_grace_period,
            )
            if period is not None
        )
        return (await process.kill(grace)).termination()

    @hookimpl
    async def kill(self, container_id: ContainerID, signal: int) -> bool:
        process = self.process_of(container_id)
        return process is not None and await process.signal(signal)

    @hookimpl
    async def forget(self, container_id: ContainerID) -> None:
        """Drop the ended process's record: the core has recorded its end."""
        process = self.process_of(container_id)
        if process is not None and process.exit is None:
            return  # not ended: the core never asks, but a running task must not be killed
        self.grace_periods.pop(str(container_id), None)
        await self.started_supervisor().forget(str(container_id))

    @hookimpl
    async def recover(self, containers: Sequence[RecoveredContainer]) -> Sequence[ContainerID]:
        """Reattach the checkpointed tasks; the supervisor kills and forgets the rest."""
        offered = {str(c.config.container_id): c for c in containers}
        handles = {key: container.handle for key, container in offered.items()}
        found = await self.started_supervisor().recover(handles)
        for key in found:
            self.grace_periods[key] = offered[key].config.kill_grace_period
        return [offered[key].config.container_id for key in found]

    def process_of(self, container_id: ContainerID) -> SupervisedProcess | None:
        """The container's process; None if unknown (or not started)."""
        if self._supervisor is None:
            return None
        return self._supervisor.get(str(container_id))

    def started_supervisor(self) -> ProcessSupervisor:
        """The supervisor (a method, not a property: pluggy reads every attribute of a
        plugin when it registers, before ``start``)."""
        if self._supervisor is None:
            raise SupervisorError("the containerizer is not started")
        return self._supervisor
