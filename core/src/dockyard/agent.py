"""The agent: its parts, started and stopped together.

- :mod:`dockyard.ledger`: task records and status updates, durable before seen;
- :mod:`dockyard.lifecycle`: a task's launch, end and kills;
- :mod:`dockyard.executors`: tasks that bring their own executor;
- :mod:`dockyard.standalone`: containers launched with LAUNCH_CONTAINER;
- :mod:`dockyard.recovery`: what happens at start after a restart;
- :mod:`dockyard.sandbox_gc`: removal of the sandboxes of ended containers;
- :mod:`dockyard.launch_config`: what every container is launched with;
- :mod:`dockyard.background`: the one owner of all background work, closed by stop().
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from dockyard.background import Background
from dockyard.checkpoint import write_atomic
from dockyard.containers import AgentContext, StartupError, Termination
from dockyard.discovery import CONTAINERIZERS, FETCHERS
from dockyard.dispatcher import Dispatcher, container_key
from dockyard.executors import Executors
from dockyard.flags import Flags
from dockyard.host import PluginHost
from dockyard.id_rules import check_agent_paths
from dockyard.launch_config import LaunchConfigs
from dockyard.ledger import Ledger, Retention, StatusListener, TaskRecord
from dockyard.lifecycle import TaskConflictError, TaskLifecycle, TaskNotFoundError
from dockyard.loggers import enabled_logger
from dockyard.messages import (
    ContainerID,
    FrameworkID,
    FrameworkInfo,
    KillPolicy,
    LaunchContainer,
    ResourceStatistics,
    TaskID,
    TaskInfo,
    TaskStatus,
)
from dockyard.recovery import recover
from dockyard.sandbox import create_state_dir
from dockyard.sandbox_gc import SandboxCollector
from dockyard.standalone import ContainerNotFoundError, StandaloneContainers
from dockyard.statuses import KillCause
from dockyard.worklock import WorkDirLock, lock_work_dir

__all__ = ["Agent", "TaskConflictError", "TaskNotFoundError"]

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, flags: Flags, host: PluginHost) -> None:
        self.flags = flags
        self.host = host
        self.work_dir = Path(flags.work_dir)
        self.meta_dir = self.work_dir / "meta"
        create_state_dir(self.meta_dir)  # before anything is written there
        self.background = Background()
        self.configs = LaunchConfigs(flags)
        self.ledger = Ledger(
            self.meta_dir,
            Retention(
                executors_per_framework=flags.max_completed_executors_per_framework,
                tasks_per_framework=flags.max_completed_tasks_per_framework,
            ),
        )
        self.dispatcher = Dispatcher(host, self.background)
        self.standalone = StandaloneContainers(self.work_dir, self.meta_dir, self.background)
        self.executors = Executors(
            flags=flags,
            work_dir=self.work_dir,
            meta_dir=self.meta_dir,
            ledger=self.ledger,
            dispatcher=self.dispatcher,
            configs=self.configs,
            background=self.background,
        )
        self.lifecycle = TaskLifecycle(
            flags=flags,
            work_dir=self.work_dir,
            ledger=self.ledger,
            dispatcher=self.dispatcher,
            configs=self.configs,
            executors=self.executors,
            background=self.background,
            default_user=getpass.getuser(),
        )
        self.sandbox_gc = SandboxCollector(
            ledger=self.ledger,
            background=self.background,
            work_dir=self.work_dir,
            gc_delay=flags.gc_delay.total_seconds(),
            disk_headroom=flags.gc_disk_headroom,
            disk_watch_interval=flags.disk_watch_interval.total_seconds(),
            in_use=self._container_in_use,
        )
        self._started: list[str] = []
        self._work_dir_lock: WorkDirLock | None = None

    @property
    def agent_id(self) -> str:
        return self.configs.agent_id

    @property
    def endpoint(self) -> str | None:
        """``ip:port`` once the HTTP API serves; exported as MESOS_AGENT_ENDPOINT."""
        return self.configs.endpoint

    @endpoint.setter
    def endpoint(self, value: str | None) -> None:
        self.configs.endpoint = value

    # -- start-up and shut-down ------------------------------------------------

    async def start(self) -> None:
        """Check the enabled plugins, start them, and recover checkpointed tasks."""
        self._work_dir_lock = lock_work_dir(self.work_dir)
        containerizers = self._enabled_containerizers()
        fetchers = self.host.names(FETCHERS)
        self.configs.agent_id = self._load_or_create_agent_id()
        check_agent_paths(self.work_dir, self.agent_id)
        logger = enabled_logger(self.flags.container_logger, self.host)
        self.dispatcher.enable(containerizers, fetchers, logger)
        for name in [*containerizers, *fetchers, *([logger] if logger else [])]:
            state_dir = self.meta_dir / "plugins" / name
            state_dir.mkdir(parents=True, exist_ok=True)
            context = AgentContext(
                flags=self.flags,
                agent_id=self.agent_id,
                work_dir=self.work_dir,
                state_dir=state_dir,
            )
            await self.host.start(name, context)
            self._started.append(name)
        await recover(
            work_dir=self.work_dir,
            ledger=self.ledger,
            dispatcher=self.dispatcher,
            configs=self.configs,
            lifecycle=self.lifecycle,
            executors=self.executors,
            standalone=self.standalone,
        )
        self.sandbox_gc.start()

    def _container_in_use(self, container: str) -> bool:
        return self.dispatcher.knows(container) or any(
            container_key(executor.container_id) == container
            for executor in self.executors.live.values()
        )

    async def prune_sandboxes(self) -> int:
        """Collect the sandbox of every ended container now; how many were removed."""
        return await self.sandbox_gc.collect(cutoff=time.time() + 1)

    async def stop(self) -> None:
        """Stop supervising and write what is pending; containers keep running and are
        recovered next start. Nothing the agent started keeps running after this."""
        await self.background.close()
        await self.ledger.close()
        for name in reversed(self._started):
            try:
                await self.host.stop(name)
            except Exception:
                log.exception("stopping plugin %s", name)
        self._started.clear()
        if self._work_dir_lock is not None:
            self._work_dir_lock.release()

    @property
    def enabled_plugins(self) -> list[str]:
        """The plugins started by this agent, in start order."""
        return list(self._started)

    def _enabled_containerizers(self) -> list[str]:
        requested: list[str] = list(self.flags.containerizers)
        installed = self.host.names(CONTAINERIZERS)
        duplicates = sorted({name for name in requested if requested.count(name) > 1})
        if duplicates:
            raise StartupError(
                f"Duplicate entries found in --containerizers: {', '.join(duplicates)}"
            )
        unknown = [name for name in requested if name not in installed]
        if unknown:
            broken = [b.describe() for b in self.host.broken if b.info.name in unknown]
            raise StartupError(
                f"Unknown containerizer(s) in --containerizers: {', '.join(unknown)}; "
                f"installed: {', '.join(installed) or 'none'}"
                + "".join(f"\n  {line}" for line in broken)
            )
        if not requested:
            raise StartupError("--containerizers must name at least one containerizer")
        return requested

    def _load_or_create_agent_id(self) -> str:
        path = self.meta_dir / "agent_id"
        if path.exists():
            return path.read_text().strip()
        agent_id = f"{uuid.uuid4()}-S0"
        write_atomic(path, agent_id.encode(), mode=0o644)
        return agent_id

    # -- tasks -----------------------------------------------------------------

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` on every published status update; returns the unsubscribe."""
        return self.ledger.listen(listener)

    def tasks(self) -> list[TaskRecord]:
        return self.ledger.tasks()

    def find_task(self, task_id: TaskID, framework_id: FrameworkID | None = None) -> TaskRecord:
        return self.lifecycle.find(task_id, framework_id)

    async def launch_task(
        self, task: TaskInfo, framework: FrameworkInfo | None = None
    ) -> TaskRecord:
        """Validate and start a task; returns once TASK_STAGING is durable.

        Invalid input raises MessageError (naming the field) and a launch the disk
        cannot record StorageError, both before anything is created.
        """
        return await self.lifecycle.launch(task, framework)

    async def kill_task(
        self,
        task_id: TaskID,
        kill_policy: KillPolicy | None = None,
        framework_id: FrameworkID | None = None,
    ) -> TaskRecord:
        return await self.lifecycle.kill(task_id, kill_policy, framework_id)

    async def wait_task(self, record: TaskRecord) -> TaskStatus:
        """Wait until ``record`` reaches a terminal state."""
        return await self.lifecycle.wait(record)

    async def cleanup(self) -> None:
        """``--recover=cleanup``: kill every container this agent still runs."""
        live = [record for record in self.tasks() if not record.terminal]
        await asyncio.gather(*(self.lifecycle.stop(r, KillCause.REQUESTED, None) for r in live))
        await asyncio.gather(*(self.lifecycle.wait(record) for record in live))
        for container in list(self.standalone.records.values()):
            if container.termination is None:
                await self.dispatcher.destroy(
                    container.container_id, self.flags.executor_shutdown_grace_period
                )
                await self.standalone.wait(container.container_id)

    # -- standalone containers ---------------------------------------------------

    async def launch_container(self, launch: LaunchContainer) -> bool:
        """``LAUNCH_CONTAINER``; False if the container id is already known."""
        user = self.configs.user(launch.command, None)
        return await self.standalone.launch(self.dispatcher, launch, user)

    async def wait_container(self, container_id: ContainerID) -> Termination:
        """The termination of a standalone or task container; raises if unknown."""
        if container_key(container_id) in self.standalone.records:
            return await self.standalone.wait(container_id)
        for record in self.tasks():
            if record.container_id == container_id:
                await self.wait_task(record)
                latest = record.latest_status
                return Termination(
                    status=record.exit_status,
                    state=record.state,
                    reason=latest.reason if latest else None,
                    message=latest.message or "" if latest else "",
                )
        raise ContainerNotFoundError(f"Container {container_key(container_id)} cannot be found")

    async def usage(self, container_id: ContainerID) -> ResourceStatistics | None:
        """Resource usage, or None if unknown or the plugin cannot tell (never raises)."""
        try:
            return await self.dispatcher.usage(container_id)
        except Exception:
            log.exception("usage of %s", container_key(container_id))
            return None

    async def kill_container(self, container_id: ContainerID, signal: int) -> bool:
        return await self.dispatcher.kill(container_id, signal)

    def remove_container(self, container_id: ContainerID) -> None:
        self.standalone.remove(self.dispatcher, container_id)
