"""Process containerizers and a file fetcher for the conformance suites' own tests.

``ReferenceContainerizer`` is dockyard's reference ``SubprocessContainerizer``, which
passes the whole suite (recovery included: its processes belong to a supervisor daemon
that outlives the agent); every other class breaks exactly one behaviour, and
``test_conformance_broken.py`` proves the matching conformance test then fails. What a
broken one leaves running is killed by the kit at the end of each test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import shutil
import signal
import urllib.parse
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from pathlib import Path

from dockyard import hookimpl
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    ContainerOutput,
    Launched,
    LaunchError,
    RecoveredContainer,
    Support,
    Termination,
)
from dockyard.messages import URI, ContainerID, TaskState
from dockyard.supervision import SubprocessContainerizer, SupervisedProcess


class ReferenceContainerizer(SubprocessContainerizer):
    """The reference containerizer as it is: passes the whole suite."""


# -- one broken behaviour each ----------------------------------------------------------


class RefusesEverything(ReferenceContainerizer):
    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        return Support.no("refuses everything")


class AcceptsEverything(ReferenceContainerizer):
    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        return Support.yes()


class NoDestroy(ReferenceContainerizer):
    """Lacks a required hook."""

    destroy = None  # type: ignore[assignment]


class OutputElsewhere(ReferenceContainerizer):
    """Writes the task's stdout and stderr outside the sandbox."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        elsewhere = config.sandbox / "elsewhere"
        elsewhere.mkdir()
        return await super().launch(
            dataclasses.replace(config, output=ContainerOutput.sandbox(elsewhere))
        )


class AlwaysFailed(ReferenceContainerizer):
    """Reports every ending as TASK_FAILED, even exit 0."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        termination = await super().wait(container_id)
        if termination is not None:
            termination.state = TaskState.TASK_FAILED
        return termination


class RawExitCode(ReferenceContainerizer):
    """Returns the exit code where the raw wait(2) status belongs."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        process = self.process_of(container_id)
        if process is None:
            return None
        ending = await process.wait()
        return Termination(status=ending.exit_code or ending.signal)


class SignalAsSuccess(ReferenceContainerizer):
    """Reports a process killed by a signal as a clean exit."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        process = self.process_of(container_id)
        if process is None:
            return None
        return Termination(status=((await process.wait()).exit_code or 0) << 8)


class NoSandboxVariable(ReferenceContainerizer):
    """``MESOS_SANDBOX`` points somewhere else than the sandbox."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        environment = {**config.environment, "MESOS_SANDBOX": "/nonexistent-sandbox"}
        return await super().launch(dataclasses.replace(config, environment=environment))


class DropsCommandEnvironment(ReferenceContainerizer):
    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        command = dataclasses.replace(config.command, environment=None)
        return await super().launch(dataclasses.replace(config, command=command))


class DropsAgentEnvironment(ReferenceContainerizer):
    def environment(self, config: ContainerConfig) -> dict[str, str]:
        return super().environment(dataclasses.replace(config, environment={}, task_info=None))


class NoShell(ReferenceContainerizer):
    """Splits shell commands into words instead of running them under a shell."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        command = config.command
        if command.shell:
            argv = shlex.split(command.value or "")
            command = dataclasses.replace(command, shell=False, value=argv[0], arguments=argv)
        return await super().launch(dataclasses.replace(config, command=command))


class ShellForArgv(ReferenceContainerizer):
    """Joins an argv into a shell string, so the shell re-splits and expands it."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        command = config.command
        if not command.shell:
            command = dataclasses.replace(
                command, shell=True, value=" ".join(command.arguments), arguments=[]
            )
        return await super().launch(dataclasses.replace(config, command=command))


class IgnoresGracePeriod(ReferenceContainerizer):
    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        process = self.process_of(container_id)
        if process is not None:
            await process.signal(signal.SIGKILL)
        return await super().destroy(container_id, timedelta(0))


class NeverEscalates(ReferenceContainerizer):
    """Sends SIGTERM and waits forever for the task to heed it."""

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        process = self.process_of(container_id)
        if process is None:
            return None
        await process.signal(signal.SIGTERM)
        return await self.wait(container_id)


class RaisesOnUnknown(ReferenceContainerizer):
    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        if self.process_of(container_id) is None:
            raise KeyError(container_id.value)
        return await super().wait(container_id)


class WaitsOnce(ReferenceContainerizer):
    """Forgets a container once one wait has returned."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        termination = await super().wait(container_id)
        if termination is not None:
            await self.started_supervisor().forget(str(container_id))
        return termination


class ForgetsItsTasks(ReferenceContainerizer):
    """Loses track of every container once launched: unknown to every later hook."""

    def process_of(self, container_id: ContainerID) -> SupervisedProcess | None:
        return None


class NeverRecovers(ReferenceContainerizer):
    @hookimpl
    async def recover(self, containers: Sequence[RecoveredContainer]) -> Sequence[ContainerID]:
        return []


class RacyLaunch(ReferenceContainerizer):
    """Keeps the container being launched in one attribute across an await."""

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        await super().start(context)
        self.launching: ContainerConfig | None = None

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        self.launching = config
        await asyncio.sleep(0)
        assert self.launching is not None
        return await super().launch(self.launching)


# -- fetchers -------------------------------------------------------------------------------


class FileCopier:
    """Copies ``file://`` URIs into the sandbox, in order; no hooks."""

    def ordered(self, uris: Sequence[URI]) -> Sequence[URI]:
        return uris

    async def copy_all(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        for uri in uris:
            source = Path(urllib.parse.urlparse(uri.value).path)
            target = config.sandbox / self.output_file(uri, source)
            try:
                await asyncio.to_thread(copy, source, target, 0o755 if uri.executable else 0o644)
            except OSError as error:
                raise self.failure(uri, error) from error

    def output_file(self, uri: URI, source: Path) -> str:
        return uri.output_file or source.name

    def failure(self, uri: URI, error: OSError) -> LaunchError:
        return LaunchError(f"Failed to fetch '{uri.value}': {error.strerror}")


def copy(source: Path, target: Path, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)


class LocalFileFetcher(FileCopier):
    """Fetches ``file://`` URIs (the reference fetcher of the suite)."""

    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ("file",)

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> Awaitable[None] | None:
        return self.copy_all(config, self.ordered(uris))


class LegacyLocalFileFetcher(FileCopier):
    """A fetcher written before ``fetch_schemes``: a catch-all that declines what it
    cannot fetch, as the old ``firstresult`` contract said."""

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> Awaitable[None] | None:
        if not all(uri.value.startswith("file://") for uri in uris):
            return None
        return self.copy_all(config, uris)


class NamesNoScheme(LocalFileFetcher):
    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ()


class TakesOtherSchemes(LocalFileFetcher):
    """Names the suite's companion scheme too, and so is given its URIs."""

    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ("file", "conformance-companion")


class FetchesInReverse(LocalFileFetcher):
    def ordered(self, uris: Sequence[URI]) -> Sequence[URI]:
        return list(reversed(uris))


class IgnoresOutputFileDirectories(LocalFileFetcher):
    def output_file(self, uri: URI, source: Path) -> str:
        return Path(uri.output_file or source.name).name


class VagueFetchError(LocalFileFetcher):
    def failure(self, uri: URI, error: OSError) -> LaunchError:
        return LaunchError("file not found")


class SignalsNothing(ReferenceContainerizer):
    """Claims to deliver signals but drops them."""

    @hookimpl
    async def kill(self, container_id: ContainerID, signal: int) -> bool:
        return self.process_of(container_id) is not None
