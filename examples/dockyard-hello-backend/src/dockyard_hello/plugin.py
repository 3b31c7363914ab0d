"""The ``hello`` containerizer: runs labelled tasks as local processes in their sandbox.

It takes a task only when the TaskInfo carries the label ``dockyard.backend=hello``
(and no DOCKER ContainerInfo), and refuses every other task, so that with
``--containerizers=hello,mesos`` the unlabelled tasks fall through to ``mesos``.
Before a task starts it writes ``--hello_greeting`` to the task's stdout.

Limitation, kept on purpose to stay small: no ``recover`` hook, so after an agent
restart its tasks end TASK_FAILED (their processes are not watched any more).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import timedelta

from dockyard import hookimpl
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    Launched,
    LaunchError,
    Support,
    Termination,
)
from dockyard.flags import STRING, FlagSet
from dockyard.messages import ContainerID, ContainerType

LABEL_KEY = "dockyard.backend"
LABEL_VALUE = "hello"
DEFAULT_GREETING = "Hello from the hello backend!"
DEFAULT_GRACE_PERIOD = timedelta(seconds=3)


def is_labelled_for_hello(config: ContainerConfig) -> bool:
    task = config.task_info
    labels = task.labels.labels if task is not None and task.labels is not None else []
    return any(label.key == LABEL_KEY and label.value == LABEL_VALUE for label in labels)


def argv_of(config: ContainerConfig) -> tuple[str, list[str]]:
    """(executable, argv) by Mesos's rules: a shell command runs under ``/bin/sh -c``;
    otherwise ``value`` is the executable and ``arguments`` the whole argv."""
    command = config.command
    if command.shell:
        return "/bin/sh", ["sh", "-c", command.value or ""]
    if not command.value:
        raise LaunchError("a command with shell=false needs a value (the executable)")
    return command.value, list(command.arguments) or [command.value]


def environment_of(config: ContainerConfig) -> dict[str, str]:
    """The agent's variables, MESOS_SANDBOX, then the task's own (which win)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **config.environment,
        "MESOS_SANDBOX": str(config.sandbox),
    }
    if config.command.environment is not None:
        for variable in config.command.environment.variables:
            env[variable.name] = variable.value or ""
    return env


def wait_status(returncode: int) -> int:
    """The raw wait(2) status that dockyard expects in ``Termination.status``."""
    return -returncode if returncode < 0 else returncode << 8


class HelloContainerizer:
    """Entry point ``hello`` of group ``dockyard.containerizers``."""

    def __init__(self) -> None:
        self.greeting = DEFAULT_GREETING
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.launched = 0

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        flags.add(
            "hello_greeting",
            STRING,
            default=DEFAULT_GREETING,
            help="Line the hello containerizer writes to each task's stdout first.",
        )

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        self.greeting = context.flags.hello_greeting

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        if not is_labelled_for_hello(config):
            return Support.no(f"runs only tasks labelled {LABEL_KEY}={LABEL_VALUE}")
        info = config.container_info
        if info is not None and info.type is not ContainerType.MESOS:
            return Support.no(f"cannot run {info.type.name} containers")
        return Support.yes()

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        executable, argv = argv_of(config)
        stdout = config.sandbox / "stdout"
        await asyncio.to_thread(stdout.write_text, f"{self.greeting}\n")
        try:
            with (  # opening two local files does not block the loop in any way that matters
                open(stdout, "ab") as out,  # noqa: ASYNC230
                open(config.sandbox / "stderr", "ab") as err,  # noqa: ASYNC230
            ):
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    executable=executable,
                    cwd=config.sandbox,
                    env=environment_of(config),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # its own process group, killed as a whole
                )
        except OSError as error:
            raise LaunchError(f"cannot run {executable}: {error.strerror}") from error
        self.processes[config.container_id.value] = process
        self.launched += 1
        return Launched(handle={"pid": process.pid})

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is None:
            return None
        return Termination(status=wait_status(await process.wait()))

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is None:
            return None
        if process.returncode is None:
            self._signal_group(process, signal.SIGTERM)
            grace = DEFAULT_GRACE_PERIOD if grace_period is None else grace_period
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), grace.total_seconds())
        self._signal_group(process, signal.SIGKILL)  # nothing the task started survives
        return await self.wait(container_id)

    @hookimpl
    async def kill(self, container_id: ContainerID, signal: int) -> bool:
        process = self.processes.get(container_id.value)
        if process is None or process.returncode is not None:
            return False
        return self._signal_group(process, signal)

    @hookimpl
    def metrics(self) -> dict[str, float]:
        return {"containerizer/hello/launched": float(self.launched)}

    @staticmethod
    def _signal_group(process: asyncio.subprocess.Process, signum: int) -> bool:
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return False
        return True
