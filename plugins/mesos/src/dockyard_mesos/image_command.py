"""How a task runs in a container image: Mesos's ``docker/runtime`` isolator rules.

The image's ``Entrypoint``, ``Cmd``, ``Env`` and ``WorkingDir`` are merged with the task's
``CommandInfo`` exactly as ``DockerRuntimeIsolatorProcess::getLaunchCommand`` does:

- ``shell=true``: ``/bin/sh -c <value>``; the image's Entrypoint and Cmd are ignored (no
  value is an error).
- ``shell=false`` with a ``value``: that executable with ``arguments`` (image ignored).
- ``shell=false`` without a value: the Entrypoint, followed by the task's ``arguments`` or,
  when it has none, the image's Cmd; without an Entrypoint, ``Cmd[0]`` followed by the
  task's arguments or else the rest of Cmd; neither: an error.

Mesos ignores the image's ``User`` (it logs "not supported yet"); dockyard uses it when the
task names no user, as Docker does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dockyard.containers import LaunchError
from dockyard.messages import CommandInfo

SHELL = "/bin/sh"


class RuntimeConfig(Protocol):
    """The parts of an image's config that decide how a task runs in it."""

    @property
    def entrypoint(self) -> tuple[str, ...] | None: ...
    @property
    def cmd(self) -> tuple[str, ...] | None: ...
    @property
    def env(self) -> tuple[str, ...]: ...
    @property
    def working_dir(self) -> str | None: ...
    @property
    def user(self) -> str | None: ...


def launch_argv(command: CommandInfo, image: RuntimeConfig) -> list[str]:
    """The argv the task's container runs (argv[0] is the executable, found on PATH)."""
    if command.shell:
        if not command.value:
            raise LaunchError(
                "Failed to determine the launch command: "
                "Shell specified but no command value provided"
            )
        return [SHELL, "-c", command.value]
    if command.value:
        arguments = list(command.arguments)
        return [command.value, *arguments[1:]] if arguments else [command.value]
    arguments = list(command.arguments)
    if image.entrypoint:
        return [*image.entrypoint, *(arguments or image.cmd or ())]
    if image.cmd:
        return [image.cmd[0], *(arguments or image.cmd[1:])]
    raise LaunchError(
        "Failed to determine the launch command: No executable is found "
        "(the task has no command value and the image no Entrypoint or Cmd)"
    )


def image_environment(variables: Sequence[str]) -> dict[str, str]:
    """``KEY=value`` strings as a mapping; entries without ``=`` are skipped, as in Mesos."""
    found: dict[str, str] = {}
    for variable in variables:
        name, equals, value = variable.partition("=")
        if equals and name:
            found[name] = value
    return found
