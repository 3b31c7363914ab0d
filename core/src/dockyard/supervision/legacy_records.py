"""Records of a supervisor from before the log: one ``<state_dir>/tasks/<id>.json`` per task.

An agent upgraded with tasks running leaves them behind; the new supervisor's
:class:`~dockyard.supervision.records.RecordLog` reads them once, makes them durable in its
log, then removes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from dockyard.supervision.protocol import ProcessRecord

log = logging.getLogger(__name__)

LEGACY_DIR = "tasks"


def read(state_dir: Path, quarantine: Path) -> list[ProcessRecord] | None:
    """The records left in ``state_dir``, None if there is none to adopt; an unreadable one
    is moved to ``quarantine``."""
    directory = state_dir / LEGACY_DIR
    if not directory.is_dir():
        return None
    records = []
    for path in sorted(directory.glob("*.json")):  # a .tmp beside one is a write cut short
        try:
            records.append(ProcessRecord.from_json(json.loads(path.read_bytes())))
        except (OSError, ValueError, KeyError, TypeError) as error:
            _quarantine(path, error, quarantine)
    return records


def remove(state_dir: Path) -> None:
    """Remove what is left of the old records (they are in the log now)."""
    directory = state_dir / LEGACY_DIR
    for path in directory.iterdir():
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()


def _quarantine(path: Path, error: Exception, quarantine: Path) -> None:
    target = quarantine / path.name
    try:
        quarantine.mkdir(exist_ok=True)
        path.rename(target)
    except OSError as move_error:
        log.error("unreadable task record %s (%s), cannot move it: %s", path, error, move_error)
        return
    log.error("unreadable task record %s (%s): moved to %s", path, error, target)
