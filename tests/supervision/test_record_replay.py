"""The record log's pure logic (line format, replay) and its group commit with an injected
sync failure, on real files in this process; the daemon-level cases are in
``test_record_log.py``."""

from __future__ import annotations

import errno
import os
from dataclasses import asdict
from pathlib import Path

import pytest
from dockyard.supervision.protocol import ExitInfo, ProcessRecord
from dockyard.supervision.record_lines import forget_line, record_line, replay
from dockyard.supervision.records import LOG_NAME, RecordLog
from hypothesis import given
from hypothesis import strategies as st

from tests.mesos.harness import until

IDS = st.sampled_from(["a", "b", "c"])
OPERATIONS = st.lists(st.tuples(st.sampled_from(["spawn", "exit", "forget"]), IDS), max_size=12)


def record(task_id: str, status: int | None = None) -> ProcessRecord:
    ended = None if status is None else ExitInfo(status=status)
    return ProcessRecord(id=task_id, pid=100, start_time=1.5, cgroups=["/x"], exit=ended)


def written(operations: list[tuple[str, str]]) -> tuple[bytes, list[dict[str, ProcessRecord]]]:
    """The log of ``operations``, and the records after each of its lines."""
    records: dict[str, ProcessRecord] = {}
    data, states = b"", []
    for operation, task_id in operations:
        if operation == "forget":
            records.pop(task_id, None)
            data += forget_line(task_id)
        else:
            ends = operation == "exit"
            records[task_id] = record(task_id, 0 if ends else None)
            data += record_line("exit" if ends else "spawn", records[task_id])
        states.append(dict(records))
    return data, states


@pytest.mark.parametrize("status", [None, 9])
def test_a_record_is_written_as_all_its_fields(status: int | None) -> None:
    written = record("a", status)
    written.killed = True
    assert written.to_json() == asdict(written)


@given(OPERATIONS, st.floats(0, 1))
def test_a_log_cut_anywhere_replays_to_its_last_whole_line(
    operations: list[tuple[str, str]], where: float
) -> None:
    data, states = written(operations)
    cut = data[: int(len(data) * where)]
    whole_lines = cut.count(b"\n")
    replayed = replay(cut)
    assert replayed.records == (states[whole_lines - 1] if whole_lines else {})
    assert replayed.damage == []
    assert replayed.torn_bytes(len(cut)) == len(cut) - (cut.rfind(b"\n") + 1)
    assert sum(replayed.line_bytes.values()) <= replayed.complete_bytes


def test_a_damaged_line_is_reported_with_its_task_and_the_others_replay() -> None:
    data, _ = written([("spawn", "a"), ("spawn", "b"), ("exit", "b"), ("spawn", "c")])
    lines = data.splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"status":0', b'"status":9')
    replayed = replay(b"".join(lines))
    assert sorted(replayed.records) == ["a", "b", "c"]
    assert replayed.records["b"].exit is None, "as its last good line says"
    ((damage),) = replayed.damage
    assert (damage.line_number, damage.problem, damage.task_id) == (3, "it fails its checksum", "b")


@pytest.mark.parametrize("line", [b"\n", b"\0\0\0\n", b"0000000 {}\n", b"00000000 {}\n"])
def test_lines_that_are_no_records_are_damage(line: bytes) -> None:
    (damage,) = replay(line).damage
    assert damage.line_number == 1


async def test_an_exit_whose_sync_fails_is_written_again_and_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RecordLog(tmp_path)
    log.load()
    task = record("a")
    log.add(task)
    syncs: list[int] = []
    real_fdatasync = os.fdatasync

    def fails_once(fd: int) -> None:
        syncs.append(fd)
        if len(syncs) == 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", fails_once)
    task.exit = ExitInfo(status=7)
    log.update(task, durable=True)  # never raises
    await until(lambda: len(syncs) == 2)
    exits = [
        line for line in (tmp_path / LOG_NAME).read_bytes().splitlines() if b'"kind":"exit"' in line
    ]
    assert len(exits) == 2, "written again after the failed sync: its pages may be lost"
    log.close()
    assert replay((tmp_path / LOG_NAME).read_bytes()).records == {"a": task}
