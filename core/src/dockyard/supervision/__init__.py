"""Crash-safe process supervision for process-based backends.

A backend spawns each task's process through a :class:`ProcessSupervisor`, checkpoints the
:attr:`SupervisedProcess.handle` it gets (as ``Launched.handle``), and after an agent
restart (even a SIGKILL) hands the handles back to :meth:`ProcessSupervisor.recover` to
learn each process's real end, as a raw ``wait(2)`` status, exactly once, with no shim of
its own::

    supervisor = ProcessSupervisor(context.state_dir)
    await supervisor.start()
    process = await supervisor.spawn("c1", ["sleep", "5"], cwd=sandbox, env={...},
                                     stdout=OutputSpec(path=str(sandbox / "stdout")),
                                     stderr=OutputSpec(path=str(sandbox / "stderr")))
    ...
    ending = await process.wait()          # ProcessExit: status, exit_code, signal, killed
    await process.kill(timedelta(seconds=3))  # SIGTERM, then SIGKILL after the grace

One small daemon per state dir (``python -m dockyard.supervision.server``) spawns, reaps
and records the processes, so they outlive the agent. :class:`SubprocessContainerizer`
is a complete containerizer built on it, to use or subclass. The ``mesos`` plugin uses the
same daemon through the lower-level :class:`~dockyard.supervision.client.SupervisorClient`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.supervision.client import SupervisorError
    from dockyard.supervision.command import Identity, identity
    from dockyard.supervision.containerizer import SubprocessContainerizer
    from dockyard.supervision.processes import ProcessExit, ProcessSupervisor, SupervisedProcess
    from dockyard.supervision.protocol import OutputSpec, SpawnSpec

_HOMES = {
    "Identity": "command",
    "OutputSpec": "protocol",
    "ProcessExit": "processes",
    "ProcessSupervisor": "processes",
    "SpawnSpec": "protocol",
    "SubprocessContainerizer": "containerizer",
    "SupervisedProcess": "processes",
    "SupervisorError": "client",
    "identity": "command",
}
"""Imported when first used: the daemon imports this package and must stay small (it
never needs the hook-facing modules, which pull in every Mesos message)."""

__all__ = [
    "Identity",
    "OutputSpec",
    "ProcessExit",
    "ProcessSupervisor",
    "SpawnSpec",
    "SubprocessContainerizer",
    "SupervisedProcess",
    "SupervisorError",
    "identity",
]


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
