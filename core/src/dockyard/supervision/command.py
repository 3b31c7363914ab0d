"""What a task runs, from its ContainerConfig, with Mesos's semantics.

``shell=true`` runs ``/bin/sh -c <value>``; ``shell=false`` execs ``value`` with
``arguments`` as the whole argv (argv[0] included, as the Mesos containerizer does).
A command run inside a task (a COMMAND health check) gets the same treatment.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, replace

from dockyard import users
from dockyard.containers import ContainerConfig, FileOutput, LaunchError, StreamOutput
from dockyard.messages import CommandInfo, EnvironmentVariable, VariableType
from dockyard.supervision.protocol import OutputSpec, SpawnSpec

SHELL = "/bin/sh"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Mesos's ``os::host_default_path()``, used unless the agent or the task sets PATH."""


def command_line(command: CommandInfo) -> tuple[str, list[str]]:
    """The executable to find on PATH, and the argv to give it."""
    if not command.value:
        raise LaunchError("The command has no value to run")
    if command.shell:
        return SHELL, [SHELL, "-c", command.value]
    return command.value, list(command.arguments) or [command.value]


def environment(config: ContainerConfig) -> dict[str, str]:
    """Default PATH, then the sandbox and ids, the agent's variables, and the task's on top."""
    sandbox = str(config.sandbox)
    variables = {"PATH": DEFAULT_PATH, "MESOS_SANDBOX": sandbox, "MESOS_DIRECTORY": sandbox}
    variables.update(_ids(config))
    variables.update(config.environment)
    return with_own_environment(variables, config.command)


def inside_task(task: SpawnSpec, command: CommandInfo) -> SpawnSpec:
    """``command`` run as ``task`` runs: its sandbox, user and environment (plus the
    command's own). The supervisor sends its output to the task's stderr, as Mesos's
    health checks' goes."""
    executable, argv = command_line(command)
    return replace(
        task,
        executable=executable,
        argv=argv,
        env=with_own_environment(dict(task.env), command),
    )


def output_spec(output: StreamOutput) -> OutputSpec:
    """A container logger's destination, as the supervisor takes it."""
    if isinstance(output, FileOutput):
        rotation = output.rotation
        if rotation is None:
            return OutputSpec(path=str(output.path))
        return OutputSpec(
            path=str(output.path), max_size=rotation.max_size, max_files=rotation.max_files
        )
    preamble = base64.b64encode(output.preamble).decode()
    return OutputSpec(kind="socket", path=str(output.path), preamble=preamble)


def with_own_environment(variables: dict[str, str], command: CommandInfo) -> dict[str, str]:
    if command.environment is not None:
        for variable in command.environment.variables:
            variables[variable.name] = _value(variable)
    return variables


def _ids(config: ContainerConfig) -> dict[str, str]:
    ids: dict[str, str] = {}
    if config.task_info is not None:
        ids["MESOS_TASK_ID"] = config.task_info.task_id.value
    executor = config.executor_info
    if executor is not None:
        ids["MESOS_EXECUTOR_ID"] = executor.executor_id.value
        if executor.framework_id is not None:
            ids["MESOS_FRAMEWORK_ID"] = executor.framework_id.value
    if config.framework_info is not None and config.framework_info.id is not None:
        ids["MESOS_FRAMEWORK_ID"] = config.framework_info.id.value
    return ids


def _value(variable: EnvironmentVariable) -> str:
    if variable.type is not VariableType.SECRET:
        return variable.value or ""
    secret = variable.secret
    if secret is None or secret.value is None:
        raise LaunchError(
            f"Environment variable '{variable.name}': only secrets given by value are supported"
        )
    return secret.value.data.decode(errors="surrogateescape")


@dataclass(frozen=True)
class Identity:
    """Who a task runs as when the agent can switch user."""

    uid: int
    gid: int
    groups: list[int]


def identity(user: str | None) -> Identity | None:
    """The task's user; None to run as the agent (no user named, or the agent is not root)."""
    if user is None:
        return None
    try:
        found = users.lookup(user)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise LaunchError(f"Failed to find user '{user}'") from None
    if os.geteuid() != 0:
        return None
    return Identity(found.uid, found.gid, list(found.groups))
