"""The supervisor's record log (``<state_dir>/tasks.log``) against real supervisor processes:
what a crash, damage, a full disk or an upgrade leaves behind is still read right.

Where a test needs the supervisor to compact sooner, or to die inside its sync, it starts the
daemon itself through ``SUPERVISOR`` (the real ``server.main`` with that one change) before a
:class:`ProcessSupervisor` connects to it; a supervisor started again after its SIGKILL is
the ordinary one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from dockyard.supervision import ProcessExit, ProcessSupervisor, SupervisedProcess, SupervisorError
from dockyard.supervision.protocol import LOG_NAME as SUPERVISOR_LOG
from dockyard.supervision.records import LOG_NAME, QUARANTINE_DIR, read_records
from dockyard.testing.sweeper import ProcessSweeper

from tests.mesos.harness import gone, until
from tests.small_disk import fill_up, small_disk
from tests.supervision.test_processes import WAIT_FOR_GO, spawn

pytestmark = pytest.mark.asyncio

SUPERVISOR = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from dockyard.supervision import records, server

    compact_min_bytes, die_at_sync, *argv = sys.argv[1:]
    records.COMPACT_MIN_BYTES = int(compact_min_bytes)

    def dies_when_armed(sync):
        def armed_sync(fd):
            if Path(die_at_sync).exists():
                os.kill(os.getpid(), signal.SIGKILL)
            sync(fd)
        return armed_sync

    os.fsync, os.fdatasync = dies_when_armed(os.fsync), dies_when_armed(os.fdatasync)
    sys.exit(server.main(argv))
    """
)


SUPERVISOR_COMMAND = (sys.executable, "-c", SUPERVISOR)


async def start_supervisor(
    state: Path, *, compact_min_bytes: int = 1 << 20, die_at_sync: Path | None = None
) -> None:
    """Start the state dir's daemon through ``SUPERVISOR``; returns once it listens."""
    await asyncio.to_thread(run_supervisor, state, compact_min_bytes, die_at_sync)


def run_supervisor(state: Path, compact_min_bytes: int, die_at_sync: Path | None) -> None:
    state.mkdir(parents=True, exist_ok=True)
    armed = die_at_sync or state / "never"
    with (state / SUPERVISOR_LOG).open("ab") as log:
        subprocess.run(
            [*SUPERVISOR_COMMAND, str(compact_min_bytes), str(armed), "--state-dir", str(state)],
            stdout=log,
            stderr=log,
            start_new_session=True,
            check=True,
        )


def supervisor_pid(state: Path) -> int:
    return int((state / "supervisor.pid").read_text())


async def sigkill_supervisor(state: Path) -> None:
    pid = supervisor_pid(state)
    os.kill(pid, signal.SIGKILL)
    await until(lambda: gone(pid))


def supervisor_log(state: Path) -> str:
    return (state / SUPERVISOR_LOG).read_text()


def recovered_process(supervisor: ProcessSupervisor, name: str) -> SupervisedProcess:
    process = supervisor.get(name)
    assert process is not None, f"{name} was not recovered"
    return process


def ending(supervisor: ProcessSupervisor, name: str) -> ProcessExit | None:
    return recovered_process(supervisor, name).exit


async def recovered(state: Path, processes: dict[str, SupervisedProcess]) -> ProcessSupervisor:
    """A new backend on the state dir: a :class:`ProcessSupervisor` that recovers them."""
    again = ProcessSupervisor(state)
    await again.start()
    found = await again.recover({name: p.handle for name, p in processes.items()})
    assert sorted(found) == sorted(processes)
    return again


async def test_a_new_supervisor_adopts_running_killed_and_ended_tasks_after_a_sigkill(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper
) -> None:
    state = tmp_path / "state"
    first = ProcessSupervisor(state)
    await first.start()
    ended = await spawn(first, "ended", "exit 4", sandbox)
    await ended.wait()
    running = await spawn(first, "running", f"touch r; {WAIT_FOR_GO}; exit 3", sandbox)
    killed = await spawn(first, "killed", f"trap '' TERM; touch k; {WAIT_FOR_GO}", sandbox)
    await until(lambda: (sandbox / "r").exists() and (sandbox / "k").exists())
    assert await first.client.signal("killed", signal.SIGTERM, escalate_after=600)
    await first.close()  # the agent leaves; its tasks and their supervisor stay

    await sigkill_supervisor(state)
    again = await recovered(state, {"ended": ended, "running": running, "killed": killed})
    try:
        assert ending(again, "ended") == ProcessExit(status=4 << 8)
        (sandbox / "go").touch()
        ends = {name: await recovered_process(again, name).wait() for name in ("running", "killed")}
        assert ends["running"] == ProcessExit(status=None), "not its child: status unknown"
        assert ends["killed"].killed, "the kill was recorded before the SIGKILL"
    finally:
        await again.close()


async def test_an_exit_appended_but_not_synced_survives_a_supervisor_sigkill(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper
) -> None:
    """The supervisor dies at the sync that follows the exit's append (as the old one died
    at the fsync before its rename): the page cache holds the exit, a new supervisor reads it."""
    state, die_at_sync = tmp_path / "state", tmp_path / "die-at-sync"
    await start_supervisor(state, die_at_sync=die_at_sync)
    first = ProcessSupervisor(state)
    await first.start()
    process = await spawn(first, "ends", f"{WAIT_FOR_GO}; exit 5", sandbox)
    await first.close()
    dying = supervisor_pid(state)
    die_at_sync.touch()
    (sandbox / "go").touch()
    await until(lambda: gone(dying))

    again = await recovered(state, {"ends": process})
    try:
        assert ending(again, "ends") == ProcessExit(status=5 << 8)
    finally:
        await again.close()


async def ended_tasks(
    state: Path, sandbox: Path, codes: dict[str, int]
) -> dict[str, SupervisedProcess]:
    """Run tasks that exit with ``codes``, then let their supervisor exit: the log stays."""
    supervisor = ProcessSupervisor(state)
    await supervisor.start()
    try:
        processes = {
            name: await spawn(supervisor, name, f"exit {code}", sandbox)
            for name, code in codes.items()
        }
        for process in processes.values():
            await process.wait()
    finally:
        await supervisor.close()  # returns once the daemon has exited
    return processes


async def test_a_torn_last_line_is_dropped_with_a_warning_and_the_log_goes_on(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper
) -> None:
    state = tmp_path / "state"
    processes = await ended_tasks(state, sandbox, {"a": 3, "b": 4})
    log_file = state / LOG_NAME
    whole = log_file.read_bytes()
    with log_file.open("ab") as log:  # a crash in the middle of an append
        log.write(whole.splitlines()[-1][:40])

    again = await recovered(state, processes)
    try:
        assert ending(again, "a") == ProcessExit(status=3 << 8)
        assert ending(again, "b") == ProcessExit(status=4 << 8)
        assert "a crash cut them short" in supervisor_log(state)
        assert (await (await spawn(again, "c", "exit 6", sandbox)).wait()).exit_code == 6
    finally:
        await again.close()  # the daemon exits: everything is written
    assert read_records(state)["c"].exit is not None, "appended after a clean line end"


async def test_a_damaged_line_is_reported_and_quarantined_and_the_rest_loads(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper
) -> None:
    state = tmp_path / "state"
    processes = await ended_tasks(state, sandbox, {"a": 3, "b": 4, "c": 5})
    log_file = state / LOG_NAME
    lines = log_file.read_bytes().splitlines(keepends=True)
    damaged = next(n for n, line in enumerate(lines) if b'"exit","task":{"id":"b"' in line)
    lines[damaged] = lines[damaged].replace(b'"pid":', b'"pjd":')  # a flipped bit
    log_file.write_bytes(b"".join(lines))

    again = await recovered(state, processes)
    try:
        assert ending(again, "a") == ProcessExit(status=3 << 8)
        assert ending(again, "c") == ProcessExit(status=5 << 8), "lines after the damage load"
        assert ending(again, "b") == ProcessExit(status=None), "its spawn line says running"
        text = supervisor_log(state)
        assert f"line {damaged + 1} of {log_file} is damaged" in text
        assert "it seems to name task b" in text
        (copy,) = (state / QUARANTINE_DIR).iterdir()
        assert copy.read_bytes() == b"".join(lines)
        assert b'"pjd"' not in log_file.read_bytes(), "rewritten from what could be read"
    finally:
        await again.close()


async def test_compaction_bounds_the_log_and_keeps_running_and_unforgotten_tasks(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper
) -> None:
    state, compact_min_bytes = tmp_path / "state", 4096
    await start_supervisor(state, compact_min_bytes=compact_min_bytes)
    first = ProcessSupervisor(state)
    await first.start()
    running = await spawn(first, "running", WAIT_FOR_GO, sandbox)
    ended = await spawn(first, "ended", "exit 4", sandbox)
    await ended.wait()
    sizes = []
    for n in range(60):
        await (await spawn(first, f"churn-{n}", "exit 0", sandbox)).wait()
        await first.forget(f"churn-{n}")
        sizes.append((state / LOG_NAME).stat().st_size)
    assert any(later < size for size, later in itertools.pairwise(sizes)), "it was compacted"
    assert max(sizes) < compact_min_bytes + 2048, "at most one batch beyond the threshold"
    assert sorted(read_records(state)) == ["ended", "running"]
    assert "compacted" in supervisor_log(state)
    await first.close()

    await sigkill_supervisor(state)
    again = await recovered(state, {"running": running, "ended": ended})
    try:
        assert ending(again, "ended") == ProcessExit(status=4 << 8)
        assert ending(again, "running") is None
        (sandbox / "go").touch()
        assert await recovered_process(again, "running").wait() == ProcessExit(status=None)
    finally:
        await again.close()


@pytest.fixture
def waiting_process(sandbox: Path) -> Iterator[psutil.Popen]:
    """A process an old supervisor started: running until ``go``."""
    process = psutil.Popen(["/bin/sh", "-c", WAIT_FOR_GO], cwd=sandbox)
    yield process
    (sandbox / "go").touch()
    process.wait(30)


async def test_records_of_a_supervisor_from_before_the_log_are_adopted_then_removed(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper, waiting_process: psutil.Popen
) -> None:
    state = tmp_path / "state"
    old = state / "tasks"
    old.mkdir(parents=True)
    start_time = waiting_process.create_time()
    records = {
        "running": {"id": "running", "pid": waiting_process.pid, "start_time": start_time},
        "ended": {
            "id": "ended",
            "pid": 1,
            "start_time": 1.0,
            "cgroups": [],
            "killed": True,
            "exit": {"status": 7 << 8, "oom": False, "memory_peak": None},
        },
    }
    for name, record in records.items():
        (old / f"{name}.json").write_text(json.dumps(record))
    (old / "ended.tmp").write_text("{")  # a write the old supervisor did not finish
    (old / "garbage.json").write_text("{not json")

    supervisor = ProcessSupervisor(state)
    await supervisor.start()
    try:
        handles = {
            name: {"pid": r["pid"], "start_time": r["start_time"]} for name, r in records.items()
        }
        found = await supervisor.recover(handles)
        assert sorted(found) == ["ended", "running"]
        assert found["ended"].exit == ProcessExit(status=7 << 8, killed=True)
        assert found["running"].exit is None
        assert not old.exists(), "the old files are gone once adopted"
        assert (state / QUARANTINE_DIR / "garbage.json").read_text() == "{not json"
        assert "unreadable task record" in supervisor_log(state)
        assert sorted(read_records(state)) == ["ended", "running"]
        (sandbox / "go").touch()
        assert (await found["running"].wait()) == ProcessExit(status=None)
    finally:
        await supervisor.close()


@pytest.mark.root
async def test_a_full_disk_refuses_spawns_and_exits_are_written_once_space_returns(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper
) -> None:
    with small_disk(tmp_path / "disk", 4) as disk:
        state = disk / "state"
        state.mkdir()
        (state / SUPERVISOR_LOG).symlink_to(tmp_path / "supervisor.log")  # off the full disk
        supervisor = ProcessSupervisor(state)
        await supervisor.start()
        try:
            await full_disk_sequence(supervisor, disk, state, sandbox)
        finally:
            await supervisor.close()
            await sweeper.sweep()  # before the unmount


async def full_disk_sequence(
    supervisor: ProcessSupervisor, disk: Path, state: Path, sandbox: Path
) -> None:
    running = {"t-00": await spawn(supervisor, "t-00", WAIT_FOR_GO, sandbox)}
    filler = fill_up(disk)
    refused, refusal = None, ""
    for name in (f"t-{n:02}" for n in range(1, 100)):  # the log's last page fills, then...
        try:
            running[name] = await spawn(supervisor, name, WAIT_FOR_GO, sandbox)
        except SupervisorError as error:
            refused, refusal = name, str(error)
            break
    assert "Failed to record the task: No space left on device" in refusal
    assert refused not in {record.id for record in await supervisor.client.list()}

    (sandbox / "go").touch()  # an exit record is longer than the spawn that did not fit
    for process in running.values():
        assert (await process.wait()).exit_code == 0, "told although not written"
    assert all(record.exit is None for record in read_records(state).values())
    filler.unlink()
    await until(lambda: all(r.exit is not None for r in read_records(state).values()))
    assert re.search(r"cannot write .*No space left on device", supervisor_log(state))
    await supervisor.close()  # nothing runs: the daemon exits

    again = await recovered(state, running)
    try:
        assert {ending(again, name) for name in running} == {ProcessExit(status=0)}
    finally:
        await again.close()
