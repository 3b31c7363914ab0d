"""Process containerizers and a file fetcher for the conformance suites' own tests.

``ReferenceContainerizer`` is the sample plugin made fully conformant (it sets
``MESOS_SANDBOX`` and recovers); every other class breaks exactly one behaviour, and
``test_conformance_broken.py`` proves the matching conformance test then fails.

Recovery happens within one test process: a module-level table of the processes
plays the part of the processes outliving the agent, so a fresh plugin instance can
find them again from the pid in its handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import os
import shlex
import shutil
import signal
import sys
import urllib.parse
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from pathlib import Path
from types import ModuleType

from dockyard import hookimpl
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    Launched,
    LaunchError,
    RecoveredContainer,
    Support,
    Termination,
)
from dockyard.messages import URI, ContainerID, TaskState

from tests.conftest import SAMPLE_PLUGINS


def import_sample() -> ModuleType:
    """The sample plugin's module, imported without making its entry point visible."""
    if "dockyard_sample" in sys.modules:
        return sys.modules["dockyard_sample"]
    spec = importlib.util.spec_from_file_location(
        "dockyard_sample", SAMPLE_PLUGINS / "dockyard_sample" / "__init__.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dockyard_sample"] = module
    spec.loader.exec_module(module)
    return module


SampleContainerizer = import_sample().SampleContainerizer

SURVIVORS: dict[int, asyncio.subprocess.Process] = {}
"""Every process launched here, by pid: what a restarted plugin reattaches to."""


def kill_survivors() -> None:
    """SIGKILL whatever a (deliberately broken) backend left running."""
    for pid, process in list(SURVIVORS.items()):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        del SURVIVORS[pid]


class ReferenceContainerizer(SampleContainerizer):  # type: ignore[misc, valid-type]
    """The sample plugin plus ``MESOS_SANDBOX`` and recovery: passes the whole suite."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        environment = {**config.environment, "MESOS_SANDBOX": str(config.sandbox)}
        launched: Launched = await super().launch(
            dataclasses.replace(config, environment=environment)
        )
        process = self.processes[config.container_id.value]
        SURVIVORS[process.pid] = process
        return launched

    @hookimpl
    async def recover(self, containers: Sequence[RecoveredContainer]) -> Sequence[ContainerID]:
        claimed = []
        for container in containers:
            process = SURVIVORS.get(container.handle.get("pid", -1))
            if process is not None:
                self.processes[container.config.container_id.value] = process
                claimed.append(container.config.container_id)
        return claimed


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

    destroy = None


class OutputElsewhere(ReferenceContainerizer):
    """Writes the task's stdout and stderr outside the sandbox."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        elsewhere = config.sandbox / "elsewhere"
        elsewhere.mkdir()
        environment = {**config.environment, "MESOS_SANDBOX": str(config.sandbox)}
        launched: Launched = await SampleContainerizer.launch(
            self, dataclasses.replace(config, sandbox=elsewhere, environment=environment)
        )
        return launched


class AlwaysFailed(ReferenceContainerizer):
    """Reports every ending as TASK_FAILED, even exit 0."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        termination: Termination | None = await super().wait(container_id)
        if termination is not None:
            termination.state = TaskState.TASK_FAILED
        return termination


class RawExitCode(ReferenceContainerizer):
    """Returns the exit code where the raw wait(2) status belongs."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is None:
            return None
        return Termination(status=abs(await process.wait()))


class SignalAsSuccess(ReferenceContainerizer):
    """Reports a process killed by a signal as a clean exit."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is None:
            return None
        code = await process.wait()
        return Termination(status=max(code, 0) << 8)


class NoSandboxVariable(SampleContainerizer):  # type: ignore[misc, valid-type]
    """``MESOS_SANDBOX`` points somewhere else than the sandbox."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        environment = {**config.environment, "MESOS_SANDBOX": "/nonexistent-sandbox"}
        launched: Launched = await super().launch(
            dataclasses.replace(config, environment=environment)
        )
        return launched


class DropsCommandEnvironment(ReferenceContainerizer):
    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        command = dataclasses.replace(config.command, environment=None)
        launched: Launched = await super().launch(dataclasses.replace(config, command=command))
        return launched


class DropsAgentEnvironment(ReferenceContainerizer):
    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        launched: Launched = await super().launch(dataclasses.replace(config, environment={}))
        return launched


class NoShell(ReferenceContainerizer):
    """Splits shell commands into words instead of running them under a shell."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        command = config.command
        if command.shell:
            argv = shlex.split(command.value or "")
            command = dataclasses.replace(command, shell=False, value=argv[0], arguments=argv)
        launched: Launched = await super().launch(dataclasses.replace(config, command=command))
        return launched


class ShellForArgv(ReferenceContainerizer):
    """Joins an argv into a shell string, so the shell re-splits and expands it."""

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        command = config.command
        if not command.shell:
            command = dataclasses.replace(
                command, shell=True, value=" ".join(command.arguments), arguments=[]
            )
        launched: Launched = await super().launch(dataclasses.replace(config, command=command))
        return launched


class IgnoresGracePeriod(ReferenceContainerizer):
    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is not None and process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
        result: Termination | None = await super().destroy(container_id, timedelta(0))
        return result


class NeverEscalates(ReferenceContainerizer):
    """Sends SIGTERM and waits forever for the task to heed it."""

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        process = self.processes.get(container_id.value)
        if process is None:
            return None
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGTERM)
        return await self.wait(container_id)  # type: ignore[no-any-return]


class RaisesOnUnknown(ReferenceContainerizer):
    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        if container_id.value not in self.processes:
            raise KeyError(container_id.value)
        return await super().wait(container_id)  # type: ignore[no-any-return]


class WaitsOnce(ReferenceContainerizer):
    """Forgets a container once one wait has returned."""

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        termination: Termination | None = await super().wait(container_id)
        self.processes.pop(container_id.value, None)
        return termination


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
        launched: Launched = await super().launch(self.launching)
        return launched


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
        return container_id.value in self.processes
