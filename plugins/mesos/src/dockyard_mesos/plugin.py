"""The ``mesos`` containerizer's hooks: tasks as plain processes in their sandbox.

The hooks keep a small table of containers; the processes themselves belong to the
supervisor (see :mod:`dockyard.supervision.server`), which pushes each exit to
:meth:`MesosContainerizer._on_exit`. ``wait`` and ``destroy`` just await that event, and
``exec_in_container`` asks the supervisor to run the command as the task runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

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
from dockyard.core_flags import CGROUPS_ENABLE_CFS, EXECUTOR_SHUTDOWN_GRACE_PERIOD
from dockyard.flags import FlagError, FlagSet
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    ContainerStatus,
    ContainerType,
    Reason,
    ResourceStatistics,
    TaskState,
)
from dockyard.ownership import hand_over
from dockyard.supervision import cgroups, command
from dockyard.supervision.client import SupervisorClient, SupervisorError
from dockyard.supervision.command import inside_task
from dockyard.supervision.protocol import ProcessRecord, SpawnSpec

from dockyard_mesos import image_flags, isolation, settings, usage
from dockyard_mesos.image_containers import (
    DEFAULT_SANDBOX_DIRECTORY,
    ImageRuntime,
    ImageSource,
    remove_runtime_cgroups,
)
from dockyard_mesos.images import ImageError, ImageStore
from dockyard_mesos.images import settings as images_settings
from dockyard_mesos.termination import termination

log = logging.getLogger(__name__)

DEFAULT_GRACE_PERIOD = timedelta(seconds=5)
ENDED_KEPT = 1000
"""Ended containers whose termination ``wait`` and ``destroy`` still return; older ones
are forgotten, so memory stays bounded however many tasks the agent runs."""
"""Mesos's ``--executor_shutdown_grace_period`` default, if the core does not declare it."""


@dataclass(eq=False)
class _Container:
    """One container: its limits, its cgroups, and the future its end resolves."""

    termination: asyncio.Future[Termination]
    allocation: isolation.Allocation
    grace_period: timedelta | None = None
    cgroups: cgroups.TaskCgroups | None = None
    spawning: asyncio.Task[ProcessRecord] | None = None
    record: ProcessRecord | None = field(default=None, repr=False)
    spec: SpawnSpec | None = field(default=None, repr=False)
    """How the task was started (environment included): commands run inside it alike."""
    in_image: bool = False
    """Runs (or was being prepared to run) in a container image."""
    removal: asyncio.Task[None] | None = None
    """An image container's root file system being removed; it ends once that is done."""


class MesosContainerizer:
    """Entry point ``mesos`` of group ``dockyard.containerizers``."""

    def __init__(self) -> None:
        self._containers: dict[str, _Container] = {}
        """Containers not ended; an ended one leaves for :attr:`_ended` (see :meth:`_add`)."""
        self._ended: OrderedDict[str, Termination] = OrderedDict()
        self._client: SupervisorClient | None = None
        self._isolation = isolation.parse(isolation.DEFAULT, "--isolation")
        self._launcher: str | None = None
        self._hierarchy: cgroups.Hierarchy | None = None
        self._cgroups_root = Path(cgroups.CGROUPS_ROOT)
        self._default_grace_period = DEFAULT_GRACE_PERIOD
        self._enable_cfs = False
        self._image_providers: tuple[str, ...] | None = None
        self._image_runtime: ImageRuntime | None = None
        self.images: ImageSource | None = None
        """Where container images come from: the store ``--image_providers`` opens, unless
        one was given before ``start``."""
        self._own_store: ImageStore | None = None
        self._progress: list[Callable[[str], None]] = []

    # -- start-up and shut-down ----------------------------------------------------------

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        flags.declare(
            settings.ISOLATION,
            settings.LAUNCHER,
            settings.IMAGE_PROVIDERS_FLAG,
            settings.PROVISIONER_BACKEND,
        )
        images_settings.declare(flags)

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        self._isolation = settings.ISOLATION.get(context.flags)
        self._launcher = settings.LAUNCHER.get(context.flags)
        self._enable_cfs = CGROUPS_ENABLE_CFS.get(context.flags, False)
        self._default_grace_period = EXECUTOR_SHUTDOWN_GRACE_PERIOD.get(
            context.flags, DEFAULT_GRACE_PERIOD
        )
        self._cgroups_root = Path(cgroups.CGROUPS_ROOT) / context.agent_id
        self._hierarchy = self._find_cgroups()
        context.state_dir.mkdir(parents=True, exist_ok=True)
        context.state_dir.chmod(0o700)  # holds the socket that spawns tasks as any user
        self._image_providers = settings.IMAGE_PROVIDERS_FLAG.get(context.flags)
        if self._image_providers:
            self._image_runtime = self._start_images(context)
        client = SupervisorClient(context.state_dir, self._on_exit)
        try:
            await client.connect()
        except (OSError, SupervisorError) as error:
            message = f"The mesos containerizer cannot start its supervisor: {error}"
            raise StartupError(message) from error
        self._client = client
        if self._image_runtime is not None and self.images is None:
            self.images = self._own_store = await _open_store(context)

    def _start_images(self, context: AgentContext) -> ImageRuntime:
        missing = self._isolation.missing_for_images()
        if missing:
            raise StartupError(
                f"--image_providers={','.join(self._image_providers or ())} needs --isolation "
                f"to include {','.join(missing)}"
            )
        return ImageRuntime.start(
            context.state_dir,
            settings.PROVISIONER_BACKEND.get(context.flags),
            context.flags.get("sandbox_directory") or DEFAULT_SANDBOX_DIRECTORY,
        )

    def _find_cgroups(self) -> cgroups.Hierarchy | None:
        """The hierarchy of the tasks' cgroups, or None: then each task is tracked as a
        child subreaper, and cgroups/* isolators fall back to posix (logged, as Mesos does)."""
        controllers = self._isolation.task_controllers(self._launcher)
        if not controllers:
            return None
        try:
            hierarchy = cgroups.find_hierarchy(controllers)
            if hierarchy is None:
                raise cgroups.CgroupError(f"no cgroup hierarchy has {', '.join(controllers)}")
            probe = hierarchy.create(self._cgroups_root / ".probe", cgroups.Limits())
            cgroups.remove(probe.paths())
        except OSError as error:
            if self._launcher == "linux":
                message = f"--launcher=linux needs writable cgroups: {error}"
                raise StartupError(f"The mesos containerizer cannot start: {message}") from error
            if self._isolation.cgroup_controllers():
                log.warning(
                    "--isolation=%s: cgroups are unavailable (%s); falling back to "
                    "posix/cpu,posix/mem: usage is measured but no limit is enforced",
                    self._isolation,
                    error,
                )
            log.info("no writable cgroups (%s): tracking tasks as child subreapers", error)
            return None
        log.info("tasks get cgroups v%d under %s", hierarchy.version, self._cgroups_root)
        return hierarchy

    @hookimpl
    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._hierarchy is not None:  # the agent's own cgroup, unless tasks still run
            cgroups.remove(self._hierarchy.at(self._cgroups_root).paths())
        if self._image_runtime is not None:  # the runtime's, in the other hierarchies
            remove_runtime_cgroups(self._cgroups_root)
        if self._own_store is not None:
            await self._own_store.close()
            self._own_store = self.images = None

    @hookimpl
    def watch_progress(self, report: Callable[[str], None]) -> None:
        self._progress.append(report)

    def _report_progress(self, line: str) -> None:
        for report in self._progress:
            report(line)

    # -- launch path ---------------------------------------------------------------------

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        info = config.container_info
        if info is None:
            return Support.yes()
        if info.type is not ContainerType.MESOS:
            return Support.no(f"runs only MESOS containers, not {info.type.name}")
        image = info.mesos.image if info.mesos is not None else None
        if image is None:
            return Support.yes()
        if image.docker is None:
            return Support.no(f"runs only DOCKER images, not {image.type.name}")
        refusal = image_flags.refusal(self._image_providers, self._isolation)
        return Support.no(refusal) if refusal else Support.yes()

    @hookimpl
    async def prepare(self, config: ContainerConfig) -> None:
        """Create the container's cgroups (sysfs writes: quick, so done inline)."""
        key = str(config.container_id)
        if key in self._containers or key in self._ended:
            raise LaunchError(f"Container '{key}' already exists")
        allocation = isolation.allocation(config, self._enable_cfs)
        container = _Container(
            termination=asyncio.get_running_loop().create_future(),
            allocation=allocation,
            grace_period=config.kill_grace_period,
        )
        self._add(key, container)
        if self._hierarchy is not None:
            try:
                container.cgroups = self._hierarchy.create(
                    self._cgroups_root / key, allocation.limits()
                )
            except cgroups.CgroupError as error:
                self._fail_launch(key, container, str(error))
        image = _image_of(config)
        if image is not None:
            await self._prepare_image(key, config, container, *image)

    async def _prepare_image(
        self, key: str, config: ContainerConfig, container: _Container, name: str, cached: bool
    ) -> None:
        """Get the image (pulled if need be) and build the container's root file system."""
        container.in_image = True  # from now on its end removes what it got of the image
        if self._image_runtime is None or self.images is None:
            refusal = image_flags.refusal(self._image_providers, self._isolation)
            self._fail_launch(key, container, refusal or "no image store")
        try:
            image = await self.images.get(
                name,
                force_pull=not cached,
                progress=self._report_progress,
                holder=key,
            )
            cgroups_path = "/" + str(self._cgroups_root / key)
            await self._image_runtime.prepare(key, config, image, cgroups_path)
        except Exception as error:  # the store's errors, LaunchError, OSError: all fail it
            self._fail_launch(key, container, str(error))

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        key = str(config.container_id)
        if key in self._ended:
            raise LaunchError(f"Container '{key}' was destroyed or launched already")
        if key not in self._containers:
            await self.prepare(config)
        container = self._containers[key]
        if container.termination.done() or container.spawning is not None:
            raise LaunchError(f"Container '{key}' was destroyed or launched already")
        try:
            spec = self._spawn_spec(key, config, container)
            if spec.uid is not None:
                hand_over(config.sandbox, spec.uid, -1 if spec.gid is None else spec.gid)
            container.spec = spec
            container.spawning = asyncio.create_task(self._spawn(container, spec))
            record = await asyncio.shield(container.spawning)  # a cancelled launch still tracks it
        except (LaunchError, SupervisorError, OSError) as error:
            self._fail_launch(key, container, str(error))
        handle = {
            "pid": record.pid,
            "start_time": record.start_time,
            "allocation": asdict(container.allocation),
            "cgroups": None if container.cgroups is None else container.cgroups.to_json(),
        }
        status = ContainerStatus(container_id=config.container_id, executor_pid=record.pid)
        return Launched(handle=handle, container_status=status)

    async def _spawn(self, container: _Container, spec: SpawnSpec) -> ProcessRecord:
        record = await self._supervisor().spawn(spec)
        if container.record is None:  # else its exit event came first, with the exit
            container.record = record
        return record

    def _spawn_spec(self, key: str, config: ContainerConfig, container: _Container) -> SpawnSpec:
        output = config.output_or_sandbox()
        if self._image_runtime is not None and container.in_image:
            # the runtime, as root: the task's user and environment are in its bundle
            executable, argv = self._image_runtime.run_argv(key)
            env, user = {"PATH": command.DEFAULT_PATH}, None
        else:
            executable, argv = command.command_line(config.command)
            env, user = command.environment(config), command.identity(config.user)
        return SpawnSpec(
            id=key,
            executable=executable,
            argv=argv,
            env=env,
            cwd=str(config.sandbox),
            stdout=command.output_spec(output.stdout),
            stderr=command.output_spec(output.stderr),
            uid=None if user is None else user.uid,
            gid=None if user is None else user.gid,
            groups=[] if user is None else user.groups,
            cgroups=[] if container.cgroups is None else container.cgroups.paths(),
            subreaper=container.cgroups is None,
        )

    def _fail_launch(self, key: str, container: _Container, message: str) -> NoReturn:
        self._end_unlaunched(
            key,
            container,
            Termination(
                state=TaskState.TASK_FAILED,
                reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
                message=message,
            ),
        )
        raise LaunchError(message)

    def _end_unlaunched(self, key: str, container: _Container, ending: Termination) -> None:
        """End a container that has no process: drop its cgroups, resolve its waiters."""
        if container.cgroups is not None:
            cgroups.remove(container.cgroups.paths())
        self._end(key, container, ending)

    def _end(self, key: str, container: _Container, ending: Termination) -> None:
        """Resolve a container's waiters; an image container's once its rootfs is gone."""
        if container.termination.done() or container.removal is not None:
            return
        if self._image_runtime is None or not container.in_image:
            container.termination.set_result(ending)
            return
        container.removal = asyncio.create_task(
            self._remove_image_container(key, container, ending)
        )

    async def _remove_image_container(
        self, key: str, container: _Container, ending: Termination
    ) -> None:
        try:
            assert self._image_runtime is not None
            failure = self._image_runtime.start_failure(key)
            if failure is not None and container.record is not None:
                ending = Termination(
                    status=ending.status,
                    state=TaskState.TASK_FAILED,
                    reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    message=f"Failed to launch container: {failure}",
                )
            await self._image_runtime.remove(key)
            if self.images is not None:
                await self.images.release(key)
        except Exception:  # the container has ended whatever happens to its leftovers
            log.exception("container %s: removing its image root file system failed", key)
        finally:
            if not container.termination.done():
                container.termination.set_result(ending)

    def _add(self, key: str, container: _Container) -> None:
        """Track ``container`` until it ends; then keep only its termination, for a while."""
        self._containers[key] = container

        def ended(termination: asyncio.Future[Termination]) -> None:
            if self._containers.get(key) is container:
                del self._containers[key]
            if not termination.cancelled():
                self._ended[key] = termination.result()
                while len(self._ended) > ENDED_KEPT:
                    self._ended.popitem(last=False)

        container.termination.add_done_callback(ended)

    def _on_exit(self, record: ProcessRecord) -> None:
        container = self._containers.get(record.id)
        if container is None or container.termination.done():
            return
        container.record = record
        memory_limit = container.allocation.limits().memory_limit
        self._end(record.id, container, termination(record, memory_limit))

    @hookimpl
    async def wait(self, container_id: ContainerID) -> Termination | None:
        container = self._containers.get(str(container_id))
        if container is None:
            return self._ended.get(str(container_id))
        return await asyncio.shield(container.termination)

    @hookimpl
    async def destroy(
        self, container_id: ContainerID, grace_period: timedelta | None
    ) -> Termination | None:
        key = str(container_id)
        container = self._containers.get(key)
        if container is None:
            return self._ended.get(key)
        if container.spawning is not None:
            await asyncio.wait([container.spawning])
        if container.record is None:
            ending = Termination(message="Container destroyed before launch")
            self._end_unlaunched(key, container, ending)
        elif not container.termination.done():
            grace = next(
                period
                for period in (grace_period, container.grace_period, self._default_grace_period)
                if period is not None
            )
            await self._supervisor().signal(key, signal.SIGTERM, grace.total_seconds())
        return await asyncio.shield(container.termination)

    @hookimpl
    async def forget(self, container_id: ContainerID) -> None:
        """Drop an ended container's termination and the supervisor's record of it."""
        key = str(container_id)
        container = self._containers.get(key)
        if container is not None and not container.termination.done():
            log.warning("not forgetting container %s: it has not ended", key)
            return
        self._ended.pop(key, None)
        await self._supervisor().forget(key)

    @hookimpl
    async def kill(self, container_id: ContainerID, signal: int) -> bool:
        container = self._containers.get(str(container_id))
        if container is None or container.termination.done():
            return False
        if container.record is None:  # not started yet: Mesos destroys it
            await self.destroy(container_id, None)
            return True
        return await self._supervisor().signal(str(container_id), signal)

    @hookimpl
    async def exec_in_container(
        self, container_id: ContainerID, command: CommandInfo, time_limit: timedelta
    ) -> int | None:
        """Run ``command`` as the task runs (sandbox, user, environment, cgroups).

        None if the container is unknown or not running (yet, or any more); a command still
        running when the task ends is killed with it. Raises LaunchError for a command
        without a value, SupervisorError if it cannot start.
        """
        container = self._containers.get(str(container_id))
        if container is None or container.spec is None or container.termination.done():
            return None
        if self._image_runtime is not None and container.in_image:
            executable, argv = self._image_runtime.exec_argv(str(container_id), command)
            spec = replace(container.spec, executable=executable, argv=argv)
        else:
            spec = inside_task(container.spec, command)
        return await self._supervisor().exec(spec, time_limit.total_seconds())

    @hookimpl
    async def usage(self, container_id: ContainerID) -> ResourceStatistics | None:
        container = self._containers.get(str(container_id))
        if container is None or container.record is None or container.termination.done():
            return None
        return await asyncio.to_thread(
            usage.statistics, container.record, container.cgroups, container.allocation
        )

    # -- recovery ------------------------------------------------------------------------

    @hookimpl
    async def recover(self, containers: Sequence[RecoveredContainer]) -> Sequence[ContainerID]:
        """Match checkpoints with the supervisor's records; kill and forget the rest.

        The supervisor's record is authoritative: a container the core offers without a
        handle (the agent died between the spawn and its checkpoint) is adopted too.
        """
        offered = {str(recovered.config.container_id): recovered for recovered in containers}
        tracked = {key: self._recovered(key, checkpointed) for key, checkpointed in offered.items()}
        for key, container in tracked.items():  # first, so that exits pushed meanwhile count
            self._add(key, container)
        found: list[ContainerID] = []
        unknown = set(offered)
        for record in await self._supervisor().list():
            unknown.discard(record.id)
            recovered = offered.get(record.id)
            if recovered is not None and _launch_of(record, recovered.handle):
                found.append(recovered.config.container_id)
                self._reattach(tracked[record.id], record)
                continue
            if recovered is not None:  # another launch: unknown, even if its exit came
                self._containers.pop(record.id, None)
                self._ended.pop(record.id, None)
            log.info("cleaning up orphan task %s", record.id)
            await self._supervisor().forget(record.id)
        for key in unknown:
            log.warning("container %s is unknown to the supervisor", key)
            self._containers.pop(key, None)
            unlaunched = tracked[key]
            if unlaunched.cgroups is not None:  # prepared, never used
                cgroups.remove(unlaunched.cgroups.paths())
        if self._image_runtime is not None:
            await self._remove_image_leftovers({str(cid) for cid in found})
        return found

    async def _remove_image_leftovers(self, recovered: set[str]) -> None:
        """Root file systems of containers that are gone (killed above, or never started)."""
        assert self._image_runtime is not None
        for key in sorted(self._image_runtime.keys() - recovered):
            log.info("removing the root file system of gone container %s", key)
            await self._image_runtime.remove(key)
            if self.images is not None:
                await self.images.release(key)

    def _recovered(self, key: str, recovered: RecoveredContainer) -> _Container:
        """A container as checkpointed; without a handle, as ``prepare`` made it."""
        handle = recovered.handle
        saved_allocation = handle.get("allocation")
        saved_cgroups = handle.get("cgroups")
        container = _Container(
            termination=asyncio.get_running_loop().create_future(),
            allocation=isolation.allocation(recovered.config, self._enable_cfs)
            if saved_allocation is None
            else isolation.Allocation(**saved_allocation),
            grace_period=recovered.config.kill_grace_period,
            in_image=self._image_runtime is not None and self._image_runtime.owns(key),
        )
        if saved_cgroups is not None:
            container.cgroups = cgroups.TaskCgroups.from_json(saved_cgroups)
        elif not handle and self._hierarchy is not None:
            container.cgroups = self._hierarchy.at(self._cgroups_root / key)
        try:
            container.spec = self._spawn_spec(key, recovered.config, container)
        except LaunchError as error:  # it cannot have launched; if it did, no exec in it
            log.warning("container %s: %s", key, error)
        return container

    def _reattach(self, container: _Container, record: ProcessRecord) -> None:
        container.record = record
        if container.cgroups is not None and container.cgroups.paths() != sorted(record.cgroups):
            container.cgroups = None  # it was launched without them
        if record.exit is not None:
            self._on_exit(record)

    def _supervisor(self) -> SupervisorClient:
        if self._client is None:
            raise SupervisorError("the mesos containerizer is not started")
        return self._client


async def _open_store(context: AgentContext) -> ImageStore:
    try:
        settings = images_settings.StoreSettings.from_flags(context.flags, context.work_dir)
        store = ImageStore.from_settings(settings)
        await store.start()
    except (FlagError, ImageError) as error:
        raise StartupError(
            f"The mesos containerizer cannot open its image store: {error}"
        ) from error
    return store


def _image_of(config: ContainerConfig) -> tuple[str, bool] | None:
    """The Docker image a container runs in and whether a cached copy will do (``supports``
    refused other kinds), or None."""
    info = config.container_info
    image = info.mesos.image if info is not None and info.mesos is not None else None
    if image is None or image.docker is None:
        return None
    return image.docker.name, image.cached


def _launch_of(record: ProcessRecord, handle: dict[str, Any]) -> bool:
    """Whether a record is the launch a checkpoint names (not an earlier one), or the
    checkpoint names none: then the supervisor's record is all there is."""
    if not handle:
        return True
    return (handle.get("pid"), handle.get("start_time")) == (record.pid, record.start_time)
