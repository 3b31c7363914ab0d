"""Standalone containers (``LAUNCH_CONTAINER``): a command and resources, no task.

They share the dispatcher, the plugins and the recovery path with tasks; unlike
Mesos, a DOCKER standalone container works. Each is checkpointed under
``<work_dir>/meta/containers`` and its sandbox is ``<work_dir>/containers/<id>``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.background import Background
from dockyard.checkpoint import discard_partial_writes, read_json, write_json
from dockyard.containers import ContainerConfig, RecoveredContainer, Termination
from dockyard.dispatcher import Dispatcher, Stage, container_key
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    LaunchContainer,
    Reason,
    TaskState,
    dump,
    load,
)
from dockyard.redaction import redact_secrets
from dockyard.sandbox import create_sandbox, standalone_sandbox
from dockyard.validation import validate_launch_container

log = logging.getLogger(__name__)


class ContainerNotFoundError(LookupError):
    pass


class ContainerStillRunningError(RuntimeError):
    pass


@dataclass(kw_only=True, eq=False)
class ContainerRecord:
    launch: LaunchContainer
    sandbox: Path
    containerizer: str | None = None
    handle: dict[str, Any] = field(default_factory=dict)
    termination: Termination | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.termination is not None:
            self.ended.set()

    @property
    def container_id(self) -> ContainerID:
        return self.launch.container_id

    def end(self, termination: Termination) -> None:
        self.termination = termination
        self.ended.set()


def encode_termination(termination: Termination | None) -> dict[str, Any] | None:
    if termination is None:
        return None
    return {
        "status": termination.status,
        "state": termination.state.name if termination.state else None,
        "reason": termination.reason.name if termination.reason else None,
        "message": termination.message,
    }


def decode_termination(data: dict[str, Any] | None) -> Termination | None:
    if data is None:
        return None
    return Termination(
        status=data["status"],
        state=TaskState[data["state"]] if data["state"] else None,
        reason=Reason[data["reason"]] if data["reason"] else None,
        message=data["message"],
    )


class StandaloneContainers:
    def __init__(self, work_dir: Path, meta_dir: Path, background: Background) -> None:
        self.work_dir = work_dir
        self.directory = meta_dir / "containers"
        self.records: dict[str, ContainerRecord] = {}
        self.background = background

    def _save(self, record: ContainerRecord) -> None:
        write_json(
            self.directory / f"{container_key(record.container_id)}.json",
            {
                "launch": redact_secrets(dump(record.launch)),
                "sandbox": str(record.sandbox),
                "containerizer": record.containerizer,
                "handle": record.handle,
                "termination": encode_termination(record.termination),
            },
        )

    def _config(self, record: ContainerRecord, user: str | None) -> ContainerConfig:
        launch = record.launch
        return ContainerConfig(
            container_id=launch.container_id,
            command=launch.command or CommandInfo(),
            container_info=launch.container,
            resources=list(launch.resources),
            limits=dict(launch.limits),
            sandbox=record.sandbox,
            user=user,
            environment={"MESOS_DIRECTORY": str(record.sandbox)},
        )

    def get(self, container_id: ContainerID) -> ContainerRecord:
        record = self.records.get(container_key(container_id))
        if record is None:
            raise ContainerNotFoundError(f"Container {container_key(container_id)} cannot be found")
        return record

    async def launch(
        self, dispatcher: Dispatcher, launch: LaunchContainer, user: str | None
    ) -> bool:
        """Launch; False if the id is already known (Mesos's ALREADY_LAUNCHED).

        Raises MessageError for invalid input, LaunchError (incl. NotSupportedError)
        for a failed launch, after which nothing of the container remains.
        """
        validate_launch_container(launch)
        key = container_key(launch.container_id)
        if key in self.records:
            return False
        record = ContainerRecord(launch=launch, sandbox=standalone_sandbox(self.work_dir, key))
        config = self._config(record, user)
        self.records[key] = record

        async def observe(stage: Stage, containerizer: str) -> None:
            if stage is Stage.SELECTED:
                record.containerizer = containerizer
                self._save(record)

        try:
            create_sandbox(record.sandbox, user)
            launched = await dispatcher.launch(config, observe=observe)
        except BaseException:
            self._forget(record)
            raise
        record.handle = launched.handle
        self._save(record)
        self._follow(dispatcher, record)
        return True

    def _forget(self, record: ContainerRecord) -> None:
        key = container_key(record.container_id)
        self.records.pop(key, None)
        (self.directory / f"{key}.json").unlink(missing_ok=True)
        shutil.rmtree(record.sandbox, ignore_errors=True)

    def _follow(self, dispatcher: Dispatcher, record: ContainerRecord) -> None:
        ended = dispatcher.ended(record.container_id)

        async def follow() -> None:
            termination = None if ended is None else await asyncio.shield(ended)
            record.end(
                termination
                or Termination(state=TaskState.TASK_FAILED, message="Container was lost")
            )
            self._save(record)

        self.background.spawn(follow())

    async def wait(self, container_id: ContainerID) -> Termination:
        record = self.get(container_id)
        await record.ended.wait()
        assert record.termination is not None
        return record.termination

    def remove(self, dispatcher: Dispatcher, container_id: ContainerID) -> None:
        """REMOVE_CONTAINER: the end of an ended container; then its containerizer forgets it."""
        record = self.get(container_id)
        if record.termination is None:
            raise ContainerStillRunningError(
                f"Container {container_key(container_id)} has not terminated yet"
            )
        self._forget(record)
        dispatcher.forget(record.containerizer, container_id)

    # -- recovery -----------------------------------------------------------

    def load(self) -> list[ContainerRecord]:
        discard_partial_writes(self.directory)
        for path in sorted(self.directory.glob("*.json")):
            try:
                data = read_json(path)
                record = ContainerRecord(
                    launch=load(LaunchContainer, data["launch"], path="launch_container"),
                    sandbox=Path(data["sandbox"]),
                    containerizer=data["containerizer"],
                    handle=data["handle"],
                    termination=decode_termination(data["termination"]),
                )
            except Exception as error:
                log.error("ignoring unreadable container checkpoint %s: %s", path, error)
                continue
            self.records[container_key(record.container_id)] = record
        return [r for r in self.records.values() if r.termination is None]

    def offer(self, record: ContainerRecord) -> RecoveredContainer:
        return RecoveredContainer(config=self._config(record, None), handle=record.handle)

    def resume(self, dispatcher: Dispatcher, record: ContainerRecord, claimed: bool) -> None:
        if claimed:
            self._follow(dispatcher, record)
            return
        record.end(
            Termination(
                state=TaskState.TASK_FAILED,
                reason=Reason.REASON_EXECUTOR_TERMINATED,
                message="The container was not recovered after an agent restart",
            )
        )
        self._save(record)
