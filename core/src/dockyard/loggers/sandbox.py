"""``--container_logger=sandbox`` (the default): the sandbox's ``stdout`` and ``stderr``.

Mesos's ``SandboxContainerLogger``. A native task writes its files itself, so its output
costs the agent nothing.
"""

from __future__ import annotations

from dockyard import hookimpl
from dockyard.containers import ContainerConfig, ContainerOutput


class SandboxLogger:
    """Entry point ``sandbox`` of group ``dockyard.container_loggers``."""

    @hookimpl
    def container_output(self, config: ContainerConfig) -> ContainerOutput:
        return ContainerOutput.sandbox(config.sandbox)
