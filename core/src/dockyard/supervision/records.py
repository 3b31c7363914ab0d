"""The supervisor's memory on disk: one JSON file per task, replaced atomically.

A record is written when the task starts (so a new supervisor can adopt it) and again,
fsync'ed, when it ends (so its exit survives any crash of the agent or the supervisor).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from dockyard.supervision.protocol import ProcessRecord

log = logging.getLogger(__name__)


NAME_MAX = 255
ID_MAX = NAME_MAX - len(".json")


def id_problem(process_id: str) -> str | None:
    """Why ``process_id`` cannot name a record file, or None: it must be one path component
    (a container id is, by the core's id rules)."""
    if process_id in ("", ".", ".."):
        return f"{process_id!r} is not a file name"
    if "/" in process_id or "\0" in process_id:
        return f"{process_id!r} contains '/' or NUL"
    if len(process_id.encode(errors="surrogateescape")) > ID_MAX:
        return f"it is longer than {ID_MAX} bytes"
    return None


class RecordStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, task_id: str) -> Path:
        # The core's id rules (dockyard.id_rules) make a container id one path component of
        # at most CONTAINER_KEY_MAX bytes, so it is a file name as it is, with room for .json.
        return self._directory / f"{task_id}.json"

    def save(self, record: ProcessRecord, *, durable: bool) -> None:
        """Replace the record; ``durable`` adds the fsync that makes it survive a power cut."""
        path = self._path(record.id)
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w") as file:
            json.dump(record.to_json(), file)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)

    def delete(self, task_id: str) -> None:
        self._path(task_id).unlink(missing_ok=True)

    def load_all(self) -> list[ProcessRecord]:
        records = []
        for path in sorted(self._directory.glob("*.json")):
            try:
                records.append(ProcessRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError, TypeError) as error:
                log.error("ignoring unreadable task record %s: %s", path, error)
        return records
