"""The ``docker`` containerizer's hook implementations (see :mod:`dockyard.hookspecs`).

Blocking Engine API calls run in the plugin's own thread pool; exits arrive through one
:class:`~dockyard_docker.events.EventWatcher`; output and pulls stream on the event loop
(:mod:`~dockyard_docker.engine_streams`), so no thread is held per container or pull.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from docker import APIClient
from docker.errors import DockerException
from dockyard import hookimpl
from dockyard.containers import (
    AgentContext,
    ContainerConfig,
    Launched,
    LaunchError,
    RecoveredContainer,
    StartupError,
    Support,
    Termination,
)
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    ContainerType,
    ResourceStatistics,
    TaskState,
)

from dockyard_docker import agent_container, container_exec, engine, naming, outcome, settings
from dockyard_docker.engine_streams import EngineStreams
from dockyard_docker.events import EventWatcher
from dockyard_docker.images import (
    ProgressListeners,
    PullCoordinator,
    PullError,
    image_inspect,
    normalize_reference,
    pull_image,
)
from dockyard_docker.logs import LogFollower, forget_cursors
from dockyard_docker.registry_auth import CredentialsError, credentials_for, fingerprint
from dockyard_docker.removals import RemovalSchedule
from dockyard_docker.resources import host_memory
from dockyard_docker.run_config import RunContext, build_run_spec, usage_limits
from dockyard_docker.sandbox_output import create_outputs, file_owner
from dockyard_docker.spec import SpecError
from dockyard_docker.stats import statistics
from dockyard_docker.tracking import Phase, Tracked

if TYPE_CHECKING:
    from dockyard.flags import FlagSet

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

API_THREADS = 64
LOG_DRAIN_TIMEOUT = 30.0
"""Seconds without progress after which an exit stops waiting for the container's last
output to reach its destination."""
START_POLL = 0.002
"""Seconds between inspects sent before the Engine has begun a container's start."""


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """What exists only between ``start`` and ``stop``."""

    api: APIClient
    streams: EngineStreams
    settings: settings.DockerSettings
    agent_id: str
    cursor_dir: Path
    run_context: RunContext
    watcher: EventWatcher
    removals: RemovalSchedule


class DockerContainerizer:
    """Runs ``ContainerInfo.type == DOCKER`` containers through the Docker Engine API."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None
        self._pool = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="docker-api")
        self._containers: dict[str, Tracked] = {}
        self._by_docker_id: dict[str, Tracked] = {}
        self._pulls = PullCoordinator()
        self._progress = ProgressListeners()
        self._background: set[asyncio.Future[Any]] = set()

    # ------------------------------------------------------------------ start-up

    @hookimpl
    def watch_progress(self, report: Callable[[str], None]) -> None:
        self._progress.add(report)

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        settings.declare(flags)

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        docker_settings = settings.DockerSettings.from_flags(context.flags)
        api = await self._blocking(engine.connect, docker_settings.socket)
        paths, image = agent_container.ON_THE_HOST, docker_settings.mesos_image
        if image is not None:  # the agent runs in a container: check it, map its mounts
            try:
                paths = await self._blocking(
                    agent_container.sandbox_paths, api, image, context.work_dir
                )
            except StartupError:
                api.close()
                raise
        context.state_dir.mkdir(parents=True, exist_ok=True)
        streams = EngineStreams(docker_settings.socket, api.api_version)
        watcher = EventWatcher(streams, context.agent_id, self._on_event, self._on_reconnect)
        await watcher.start()
        self._runtime = Runtime(
            api=api,
            streams=streams,
            settings=docker_settings,
            agent_id=context.agent_id,
            cursor_dir=context.state_dir / "logs",
            run_context=RunContext(
                agent_id=context.agent_id,
                sandbox_directory=docker_settings.sandbox_directory,
                default_dns=docker_settings.default_dns,
                total_memory=host_memory(),
                enable_cfs=docker_settings.enable_cfs,
                paths=paths,
            ),
            watcher=watcher,
            removals=RemovalSchedule(context.state_dir / "removals.json", self._remove),
        )
        self._runtime.removals.load()

    @hookimpl
    async def stop(self) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        await runtime.removals.stop()
        self._runtime = None
        for future in self._background:
            future.cancel()
        followers: list[asyncio.Future[None]] = []
        for tracked in self._containers.values():
            if tracked.finishing is not None:
                tracked.finishing.cancel()
            if tracked.logs is not None:
                tracked.logs.stop()
                followers.append(tracked.logs.finished)
        if followers:  # their cursors must be saved before another agent resumes them
            await asyncio.wait(followers, timeout=LOG_DRAIN_TIMEOUT)
        await runtime.watcher.stop()
        await runtime.streams.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        runtime.api.close()

    # ------------------------------------------------------------------ launch path

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        info = config.container_info
        if info is None:
            return Support.no("no ContainerInfo")
        if info.type != ContainerType.DOCKER:
            return Support.no(f"container type is {info.type.name}, not DOCKER")
        if info.docker is None or not info.docker.image:
            return Support.no("a DOCKER container needs docker.image")
        if config.container_id.parent is not None:
            return Support.no("nested containers are not supported by the docker containerizer")
        return Support.yes()

    @hookimpl
    async def prepare(self, config: ContainerConfig) -> None:
        self._started()
        container_id = config.container_id.value
        if container_id in self._containers:
            raise LaunchError("Container already started")
        tracked = self._track(Tracked(config=config))
        docker = config.container_info.docker if config.container_info else None
        if docker is None:
            return  # launch reports the missing DockerInfo
        reference = normalize_reference(docker.image)
        force = bool(docker.force_pull_image)
        tracked.pulling = asyncio.ensure_future(self._pull(config, reference, force))
        try:
            await tracked.pulling
        except (CredentialsError, PullError, DockerException) as error:
            tracked.phase = Phase.FAILED
            tracked.launched.set()
            raise LaunchError(f"Failed to pull image '{reference}': {error}") from None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            raise LaunchError("Container destroyed while pulling image") from None  # destroy
        finally:
            tracked.pulling = None

    async def _pull(self, config: ContainerConfig, reference: str, force: bool) -> None:
        """Pull unless the image is here; concurrent launches share a pull."""
        runtime = self._started()
        if not force and await image_inspect(runtime.streams, reference) is not None:
            return
        credentials = await self._blocking(
            credentials_for, reference, config.sandbox, runtime.settings.config
        )
        await self._pulls.pull(
            (reference, force, fingerprint(credentials)),
            lambda: pull_image(runtime.streams, reference, credentials, self._progress),
        )

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        self._started()
        tracked = self._containers.get(config.container_id.value)
        if tracked is None:
            tracked = self._track(Tracked(config=config))
        if tracked.termination.done():
            raise LaunchError(tracked.termination.result().message or "Container was destroyed")
        tracked.phase = Phase.CREATING
        try:
            return await self._create_and_start(tracked)
        except BaseException:
            tracked.phase = Phase.FAILED
            self._forget_docker_id(tracked)
            raise
        finally:
            tracked.launched.set()

    async def _create_and_start(self, tracked: Tracked) -> Launched:
        runtime = self._started()
        config = tracked.config
        try:
            spec = build_run_spec(config, runtime.run_context)
        except SpecError as error:
            raise LaunchError(str(error)) from None
        await self._blocking(create_outputs, config.sandbox, config.user)
        tracked.secret_names = spec.secret_names
        creating = self._blocking(engine.create, runtime.api, spec)
        try:
            docker_id = await asyncio.shield(creating)
        except DockerException as error:
            raise LaunchError(f"Failed to create container: {engine.explain(error)}") from None
        except asyncio.CancelledError:
            creating.add_done_callback(self._remove_if_created)
            raise
        tracked.docker_id = docker_id
        self._by_docker_id[docker_id] = tracked
        try:
            inspect = await self._start(docker_id)
        except DockerException as error:
            raise LaunchError(f"Failed to start container: {engine.explain(error)}") from None
        tracked.phase = Phase.RUNNING
        # Followers read the Engine's log from its start, so starting them once TASK_RUNNING
        # is on its way loses nothing.
        tracked.logs = self._follower(config, docker_id)
        asyncio.get_running_loop().call_soon(tracked.logs.start)
        tracked.stop_signal = engine.stop_signal(inspect)
        return Launched(
            handle={"docker_id": docker_id, "name": spec.name},
            data=outcome.running_data(inspect, tracked.secret_names),
            container_status=outcome.container_status(
                config.container_id, inspect, config.container_info, runtime.settings.agent_ip
            ),
        )

    async def _start(self, docker_id: str) -> dict[str, Any]:
        """Start the container; its inspect as of the start, for TASK_RUNNING.

        The inspect is asked while the start is under way: the Engine, which serialises
        calls on one container, answers it as soon as the start is done. Asked after the
        start, it would wait behind the Engine's handling of an immediate exit (tens of ms).
        """
        api = self._started().api
        starting = self._blocking(api.start, docker_id)
        inspect: dict[str, Any] | None = None
        while not starting.done():
            inspect = await self._blocking(engine.inspect, api, docker_id)
            if engine.state(inspect) != "created":
                break
            await asyncio.sleep(START_POLL)  # the start has not reached the container yet
        await starting
        if engine.state(inspect) in ("", "created"):
            inspect = await self._blocking(engine.inspect, api, docker_id)
        return inspect or {}

    def _remove_if_created(self, creating: asyncio.Future[str]) -> None:
        """A create that finished after its launch was cancelled leaves no container."""
        runtime = self._runtime
        if runtime is not None and not creating.cancelled() and creating.exception() is None:
            self._in_background(self._blocking(engine.remove, runtime.api, creating.result()))

    def _forget_docker_id(self, tracked: Tracked) -> None:
        """After a failed launch: nothing of the container may stay behind."""
        if tracked.docker_id is None:
            return
        self._by_docker_id.pop(tracked.docker_id, None)
        runtime = self._runtime
        if runtime is not None:
            self._in_background(self._blocking(engine.remove, runtime.api, tracked.docker_id))

    # ------------------------------------------------------------------ supervision

    def _on_event(self, docker_id: str, action: str) -> None:
        tracked = self._by_docker_id.get(docker_id)
        if tracked is None:
            return
        if action == "oom":
            tracked.oom = True
        elif action == "die":
            self._finish_soon(tracked)

    def _on_reconnect(self) -> None:
        """The events stream broke (daemon restart?): exits may have gone unseen."""
        running = [t for t in self._by_docker_id.values() if t.phase is Phase.RUNNING]
        self._in_background(asyncio.ensure_future(self._finish_stopped(running)))

    async def _finish_stopped(self, tracked_containers: Sequence[Tracked]) -> None:
        listed = await self._list_own()
        running = {s["Id"] for s in listed.values() if s.get("State") == "running"}
        for tracked in tracked_containers:
            if tracked.docker_id not in running:
                self._finish_soon(tracked)

    def _finish_soon(self, tracked: Tracked) -> None:
        if tracked.finishing is None and not tracked.termination.done():
            tracked.finishing = asyncio.ensure_future(self._finish(tracked))

    async def _finish(self, tracked: Tracked) -> None:
        """Report an exit once the container's last output is in the sandbox."""
        await tracked.launched.wait()
        runtime = self._runtime
        if runtime is None or tracked.docker_id is None or tracked.phase is Phase.FAILED:
            return
        inspect = await self._blocking(engine.inspect, runtime.api, tracked.docker_id)
        state = (inspect or {}).get("State") or {}
        if state.get("Running"):
            tracked.finishing = None  # a replayed event: it is still running
            return
        if tracked.logs is not None:
            await tracked.logs.drained(LOG_DRAIN_TIMEOUT)
        if inspect is None:
            ended = Termination(
                state=TaskState.TASK_KILLED if tracked.killed else TaskState.TASK_FAILED,
                message="Container was removed outside the agent",
            )
        else:
            ended = outcome.termination(state, killed=tracked.killed, oom_event=tracked.oom)
        tracked.end(ended)
        runtime.removals.schedule(tracked.docker_id, runtime.settings.remove_delay.total_seconds())

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        tracked = self._containers.get(container_id.value)
        if tracked is None:
            return None
        return await asyncio.shield(tracked.termination)

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        tracked = self._containers.get(container_id.value)
        if tracked is None:
            return None
        if tracked.termination.done():
            return tracked.termination.result()
        if tracked.phase is Phase.PULLING:
            tracked.end(Termination(message="Container destroyed while pulling image"))
            if tracked.pulling is not None:  # the last launch to wait cancels the pull
                tracked.pulling.cancel()
            return tracked.termination.result()
        tracked.killed = True
        await tracked.launched.wait()
        if tracked.phase is Phase.FAILED:  # nothing runs: the core reports the launch error
            tracked.end(Termination())
            self._containers.pop(tracked.container_id, None)
        if not tracked.termination.done():
            await self._stop_container(tracked, self._grace(tracked, grace_period))
        return await asyncio.shield(tracked.termination)

    def _grace(self, tracked: Tracked, requested: timedelta | None) -> timedelta:
        if requested is not None:
            return requested
        if tracked.config.kill_grace_period is not None:
            return tracked.config.kill_grace_period
        return self._started().settings.default_grace

    async def _stop_container(self, tracked: Tracked, grace: timedelta) -> None:
        """The stop signal, then SIGKILL after exactly ``grace`` (the Engine's own stop
        timeout has whole-second resolution)."""
        runtime = self._started()
        assert tracked.docker_id is not None
        if tracked.stop_signal is None:
            inspect = await self._blocking(engine.inspect, runtime.api, tracked.docker_id)
            tracked.stop_signal = engine.stop_signal(inspect or {})
        signalled = await self._blocking(
            engine.signal, runtime.api, tracked.docker_id, tracked.stop_signal
        )
        if not signalled:
            self._finish_soon(tracked)  # it had already stopped
            return
        try:
            await asyncio.wait_for(asyncio.shield(tracked.termination), grace.total_seconds())
        except TimeoutError:
            await self._blocking(engine.signal, runtime.api, tracked.docker_id, "SIGKILL")

    @hookimpl
    async def kill(self, container_id: ContainerID, signal: int) -> bool:
        tracked = self._containers.get(container_id.value)
        if tracked is None or tracked.docker_id is None or tracked.termination.done():
            return False
        return await self._blocking(engine.signal, self._started().api, tracked.docker_id, signal)

    @hookimpl
    async def exec_in_container(
        self, container_id: ContainerID, command: CommandInfo, time_limit: timedelta
    ) -> int | None:
        tracked = self._containers.get(container_id.value)
        if tracked is None or tracked.docker_id is None or tracked.termination.done():
            return None
        api, docker_id = self._started().api, tracked.docker_id
        try:
            exec_id = await self._blocking(container_exec.create, api, docker_id, command)
        except (container_exec.NotRunning, SpecError, DockerException) as error:
            log.info("Cannot run a command in container %s: %s", docker_id[:12], error)
            return None
        running = self._blocking(container_exec.run, api, exec_id)
        try:
            return await asyncio.wait_for(asyncio.shield(running), time_limit.total_seconds())
        except DockerException as error:
            log.info("A command in container %s failed: %s", docker_id[:12], error)
            return None
        except TimeoutError:
            await self._blocking(container_exec.kill, api, exec_id, docker_id)
            return signal.SIGKILL
        except asyncio.CancelledError:  # the caller gave up first: killed all the same
            self._in_background(self._blocking(container_exec.kill, api, exec_id, docker_id))
            raise

    @hookimpl
    async def usage(self, container_id: ContainerID) -> ResourceStatistics | None:
        tracked = self._containers.get(container_id.value)
        if tracked is None or tracked.docker_id is None or tracked.termination.done():
            return None
        runtime = self._started()
        try:
            stats = await self._blocking(
                runtime.api.stats, tracked.docker_id, stream=False, one_shot=True
            )
        except DockerException:
            return None
        limits = usage_limits(tracked.config, runtime.run_context)
        return limits.applied_to(statistics(stats, time.time()))

    # ------------------------------------------------------------------ recovery

    @hookimpl
    async def recover(self, containers: Sequence[RecoveredContainer]) -> Sequence[ContainerID]:
        runtime = self._started()
        ours = await self._list_own()
        reattached: list[Tracked] = []
        for checkpointed in containers:
            summary = ours.pop(checkpointed.config.container_id.value, None)
            if summary is not None:
                reattached.append(self._reattach(checkpointed.config, summary["Id"]))
        # Listed again after reattaching: an exit from before now (even one during the first
        # listing) shows here, and any later one reaches the events watcher.
        await self._finish_stopped(reattached)
        self._in_background(asyncio.ensure_future(self._resume_logs(reattached)))

        scheduled = runtime.removals.pending()
        orphans = [s["Id"] for s in ours.values() if s["Id"] not in scheduled]
        if runtime.settings.kill_orphans and orphans:
            log.info("Stopping and removing %d orphan container(s) of this agent", len(orphans))
            timeout = int(runtime.settings.stop_timeout.total_seconds())
            await asyncio.gather(
                *(
                    self._blocking(engine.stop_orphan, runtime.api, orphan, timeout)
                    for orphan in orphans
                )
            )
        return [tracked.config.container_id for tracked in reattached]

    def _reattach(self, config: ContainerConfig, docker_id: str) -> Tracked:
        tracked = self._track(Tracked(config=config, phase=Phase.RUNNING, docker_id=docker_id))
        self._by_docker_id[docker_id] = tracked
        tracked.logs = self._follower(config, docker_id)
        tracked.launched.set()
        return tracked

    def _follower(self, config: ContainerConfig, docker_id: str) -> LogFollower:
        """The container's log follower. Files it creates (rotated ones) are given to the
        task's user, like the sandbox's ``stdout`` and ``stderr``."""
        runtime = self._started()
        try:
            owner = file_owner(config.user)
        except LaunchError:  # the user is gone since the launch: the agent keeps them
            owner = None
        output = config.output_or_sandbox()
        return LogFollower(runtime.streams, docker_id, output, runtime.cursor_dir, owner)

    async def _resume_logs(self, reattached: Sequence[Tracked]) -> None:
        """Start the followers of recovered containers after recovery, a few at a time:
        their cursors make a late start lossless, and the agent is serving meanwhile."""
        for tracked in reattached:
            if tracked.logs is not None:
                tracked.logs.start()
            await asyncio.sleep(0)

    async def _list_own(self) -> dict[str, dict[str, Any]]:
        """This agent's containers by ContainerID (labels and name must agree)."""
        runtime = self._started()
        listed = await self._blocking(
            runtime.api.containers,
            all=True,
            filters={"label": f"{naming.AGENT_LABEL}={runtime.agent_id}"},
        )
        ours: dict[str, dict[str, Any]] = {}
        for summary in listed:
            names = summary.get("Names") or [""]
            owned = naming.owned_container_id(runtime.agent_id, names[0], summary.get("Labels"))
            if owned is not None:
                ours[owned] = summary
        return ours

    # ------------------------------------------------------------------ removal

    async def _remove(self, docker_id: str) -> None:
        runtime = self._started()
        await self._blocking(engine.remove, runtime.api, docker_id)
        tracked = self._by_docker_id.pop(docker_id, None)
        if tracked is not None and tracked.logs is not None:  # still retrying a write?
            tracked.logs.stop()
            await tracked.logs.finished
        forget_cursors(runtime.cursor_dir, docker_id)
        if tracked is not None:
            tracked.removed = True
            self._drop_if_done_with(tracked)

    @hookimpl
    async def forget(self, container_id: ContainerID) -> None:
        tracked = self._containers.get(container_id.value)
        if tracked is not None:
            tracked.forgotten = True
            self._drop_if_done_with(tracked)

    def _drop_if_done_with(self, tracked: Tracked) -> None:
        """An ended container leaves memory once its Engine container is removed and the
        core has recorded its end, whichever comes last: until ``forget``, ``wait`` must
        still answer (with ``--docker_remove_delay=0`` the removal can come first)."""
        done = tracked.removed and tracked.forgotten
        if done and self._containers.get(tracked.container_id) is tracked:
            del self._containers[tracked.container_id]

    # ------------------------------------------------------------------ helpers

    def _started(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the docker containerizer has not been started")
        return self._runtime

    def _track(self, tracked: Tracked) -> Tracked:
        self._containers[tracked.container_id] = tracked
        return tracked

    def _blocking(
        self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(call, *args, **kwargs)
        )

    def _in_background(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)
