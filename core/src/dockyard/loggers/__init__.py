"""Container loggers: which one runs, and the built-in ``sandbox`` and ``logrotate``.

A container logger says where each container's stdout and stderr go (the
``container_output`` hook); the dispatcher asks it for every container and hands the
answer to the containerizer as ``config.output``. The built-in loggers are registered
through the ``dockyard.container_loggers`` entry points of the core distribution, like a
third party's, and live in the core because the default must always be there and both
containerizers share the rotation they configure (:mod:`dockyard.logfiles`).
"""

from __future__ import annotations

from dockyard.containers import StartupError
from dockyard.discovery import CONTAINER_LOGGERS
from dockyard.host import PluginHost

DEFAULT_LOGGER = "sandbox"


def enabled_logger(name: str, host: PluginHost) -> str | None:
    """The logger ``--container_logger`` names; None for the sandbox files.

    The default ``sandbox`` is also what a containerizer does without a logger, so a
    host built without entry points (tests, embedders) needs none registered.
    """
    installed = host.names(CONTAINER_LOGGERS)
    if name in installed:
        return name
    if name == DEFAULT_LOGGER:
        return None
    broken = [b.describe() for b in host.broken if b.info.name == name]
    raise StartupError(
        f"Unknown container logger in --container_logger: {name}; "
        f"installed: {', '.join(installed) or 'none'}" + "".join(f"\n  {line}" for line in broken)
    )
