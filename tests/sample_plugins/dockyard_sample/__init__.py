"""A minimal process containerizer, installed through an entry point by the tests.

It proves the core's whole path (discovery, flags, dispatch, statuses, CLI) without
depending on the real plugins. It is deliberately simple: no crash safety, no cgroups.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
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


class SampleContainerizer:
    def __init__(self) -> None:
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.shell = "/bin/sh"

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        flags.add("sample_shell", STRING, default="/bin/sh", help="Shell for shell=true commands.")

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        self.shell = context.flags.sample_shell

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        info = config.container_info
        if info is not None and info.type is not ContainerType.MESOS:
            return Support.no("only runs tasks without a DOCKER ContainerInfo")
        return Support.yes()

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        command = config.command
        if command.shell:
            argv = [self.shell, "-c", command.value or ""]
        else:
            argv = list(command.arguments) or [command.value or ""]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "MESOS_SANDBOX": str(config.sandbox),
            **config.environment,
        }
        if command.environment is not None:
            env.update({v.name: v.value or "" for v in command.environment.variables})
        # Opening two local files does not block the loop in any way that matters here.
        with (
            open(config.sandbox / "stdout", "ab") as out,  # noqa: ASYNC230
            open(config.sandbox / "stderr", "ab") as err,  # noqa: ASYNC230
        ):
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=config.sandbox,
                    env=env,
                    stdout=out,
                    stderr=err,
                    stdin=asyncio.subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as error:
                raise LaunchError(str(error)) from error
        self.processes[config.container_id.value] = process
        return Launched(handle={"pid": process.pid})

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is None:
            return None
        code = await process.wait()
        status = (-code) if code < 0 else (code << 8)
        return Termination(status=status)

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(
                    process.wait(), (grace_period or timedelta(0)).total_seconds()
                )
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):  # it ended just now
                    os.killpg(process.pid, signal.SIGKILL)
        return await self.wait(container_id)

    @hookimpl
    async def kill(self, container_id: ContainerID, signal: int) -> bool:
        process = self.processes.get(container_id.value)
        if process is None or process.returncode is not None:
            return False
        try:
            os.killpg(process.pid, signal)
        except ProcessLookupError:
            return False
        return True

    @hookimpl
    async def recover(self, containers: Sequence[object]) -> Sequence[ContainerID]:
        return []
