"""The supervisor's record log, line by line: how an event is written and how a log replays.

Each line is ``<crc32 of the JSON, 8 hex digits> <JSON>``: the checksum the agent's ledger
uses (zlib's CRC-32 of the UTF-8 text), so a line damaged on disk is told from a good one.
The JSON is ``{"kind": "spawn" | "kill" | "exit", "task": <ProcessRecord>}`` (the task's whole
record as it stands after that event) or ``{"kind": "forget", "id": ...}`` (a tombstone).
Replaying the lines in order gives each remembered task's latest record.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Literal

from dockyard.json_codec import dumps, loads
from dockyard.supervision.protocol import ProcessRecord

Kind = Literal["spawn", "kill", "exit", "forget"]
RECORD_KINDS = ("spawn", "kill", "exit")
_ID_IN_LINE = re.compile(rb'"id":"((?:[^"\\]|\\.){1,400})"')


def record_line(kind: Kind, record: ProcessRecord) -> bytes:
    return _line({"kind": kind, "task": record.to_json()})


def forget_line(task_id: str) -> bytes:
    return _line({"kind": "forget", "id": task_id})


def latest_kind(record: ProcessRecord) -> Kind:
    """The kind of the event that made ``record`` what it is."""
    if record.exit is not None:
        return "exit"
    return "kill" if record.killed else "spawn"


def _line(entry: dict[str, object]) -> bytes:
    body = dumps(entry)
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> tuple[str, ProcessRecord | None]:
    """A line without its newline: ``(id, record)``, the record None for a tombstone.

    Raises ValueError (or KeyError, TypeError) naming what is wrong with it.
    """
    crc, _, body = line.partition(b" ")
    if len(crc) != 8 or int(crc, 16) != zlib.crc32(body):
        raise ValueError("it fails its checksum")
    entry = loads(body)
    kind = entry["kind"]
    if kind == "forget":
        return str(entry["id"]), None
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    record = ProcessRecord.from_json(entry["task"])
    return record.id, record


def id_in(line: bytes) -> str | None:
    """The task id a damaged line seems to name, for the error that reports it."""
    found = _ID_IN_LINE.search(line)
    return found.group(1).decode(errors="replace") if found else None


@dataclass
class Damage:
    line_number: int
    problem: str
    task_id: str | None


@dataclass
class Replay:
    records: dict[str, ProcessRecord] = field(default_factory=dict)
    line_bytes: dict[str, int] = field(default_factory=dict)
    """Length of each remembered task's latest line: the log's live bytes."""
    damage: list[Damage] = field(default_factory=list)
    complete_bytes: int = 0
    """Where the last complete line ends: beyond it is a line a crash cut short."""

    def torn_bytes(self, size: int) -> int:
        return size - self.complete_bytes


def replay(data: bytes) -> Replay:
    """The latest record of every task ``data`` remembers, and the damage found on the way."""
    result = Replay(complete_bytes=data.rfind(b"\n") + 1)
    for number, line in enumerate(data[: result.complete_bytes].split(b"\n")[:-1], start=1):
        try:
            task_id, record = decode(line)
        except (ValueError, KeyError, TypeError) as error:
            problem = str(error) if isinstance(error, ValueError) else f"bad field {error}"
            result.damage.append(Damage(number, problem, id_in(line)))
            continue
        if record is None:
            result.records.pop(task_id, None)
            result.line_bytes.pop(task_id, None)
        else:
            result.records[task_id] = record
            result.line_bytes[task_id] = len(line) + 1
    return result
