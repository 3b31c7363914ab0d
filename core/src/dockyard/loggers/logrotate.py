"""``--container_logger=logrotate``: the sandbox's ``stdout`` and ``stderr``, rotated.

Mesos's LogrotateContainerLogger runs two helper processes per container and the
``logrotate`` binary at every rotation. Here the containerizers rotate as they write:
the native supervisor, one process for all tasks, splices each task's pipe into its
files; the docker plugin's log coroutine writes them. See :mod:`dockyard.logfiles`.
"""

from __future__ import annotations

from dockyard import hookimpl
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    ContainerOutput,
    FileOutput,
    LaunchError,
    StartupError,
)
from dockyard.flags import FlagSet
from dockyard.loggers.logrotate_settings import LogrotateSettings, SettingsError, declare


class LogrotateLogger:
    """Entry point ``logrotate`` of group ``dockyard.container_loggers``."""

    def __init__(self) -> None:
        self._settings: LogrotateSettings | None = None

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        declare(flags)

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        try:
            self._settings = LogrotateSettings.from_flags(context.flags)
        except SettingsError as error:
            raise StartupError(str(error)) from None

    @hookimpl
    def container_output(self, config: ContainerConfig) -> ContainerOutput:
        if self._settings is None:
            raise LaunchError("the logrotate container logger is not started")
        try:
            settings = self._settings.for_command(config.command)
        except SettingsError as error:
            raise LaunchError(f"Invalid container logger settings: {error}") from None
        return ContainerOutput(
            stdout=FileOutput(path=config.sandbox / "stdout", rotation=settings.stdout.rotation()),
            stderr=FileOutput(path=config.sandbox / "stderr", rotation=settings.stderr.rotation()),
        )
