"""``dockyard.supervision``'s typed API against real processes and a real daemon.

The "agent" is a process of its own that spawns through the library and is SIGKILLed;
the test then recovers its processes with a new :class:`ProcessSupervisor` on the same
state dir, as a restarted backend does.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio
from dockyard.messages import TaskState
from dockyard.supervision import (
    OutputSpec,
    ProcessExit,
    ProcessSupervisor,
    SupervisedProcess,
    SupervisorError,
)
from dockyard.testing.sweeper import ProcessSweeper

from tests.mesos.harness import until

pytestmark = pytest.mark.asyncio

WAIT_FOR_GO = "until [ -e go ]; do sleep 0.05; done"

AGENT = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from dockyard.supervision import OutputSpec, ProcessSupervisor

    async def main(state_dir, sandbox, scripts):
        supervisor = ProcessSupervisor(Path(state_dir))
        await supervisor.start()
        for name, script in json.loads(scripts).items():
            process = await supervisor.spawn(
                name, ["/bin/sh", "-c", script], cwd=Path(sandbox), env={"PATH": "/bin:/usr/bin"},
                stdout=OutputSpec(path=f"{sandbox}/stdout"),
                stderr=OutputSpec(path=f"{sandbox}/stderr"))
            print(json.dumps({name: process.handle}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main(*sys.argv[1:]))
    """
)


@pytest_asyncio.fixture
async def supervisor(tmp_path: Path, sweeper: ProcessSweeper) -> AsyncIterator[ProcessSupervisor]:
    supervisor = ProcessSupervisor(tmp_path / "state")
    await supervisor.start()
    yield supervisor
    await supervisor.close()


async def spawn(
    supervisor: ProcessSupervisor, name: str, script: str, sandbox: Path
) -> SupervisedProcess:
    return await supervisor.spawn(
        name,
        ["/bin/sh", "-c", script],
        cwd=sandbox,
        env={"PATH": "/bin:/usr/bin"},
        stdout=OutputSpec(path=str(sandbox / "stdout")),
        stderr=OutputSpec(path=str(sandbox / "stderr")),
    )


async def wait_for(path: Path) -> None:
    await until(path.exists)


def run_agent(state_dir: Path, sandbox: Path, scripts: dict[str, str]) -> dict[str, Any]:
    """Start an "agent" that spawns ``scripts``, read their handles, SIGKILL it."""
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(state_dir), str(sandbox), json.dumps(scripts)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert agent.stdout is not None
    handles: dict[str, Any] = {}
    try:
        for _ in scripts:
            handles.update(json.loads(agent.stdout.readline()))
    finally:
        agent.kill()
        agent.wait()
        agent.stdout.close()
    return handles


async def test_an_exit_code_and_a_signal_are_told_apart(
    supervisor: ProcessSupervisor, sandbox: Path
) -> None:
    code = await (await spawn(supervisor, "code", "echo out; exit 3", sandbox)).wait()
    assert (code.status, code.exit_code, code.signal, code.killed) == (3 << 8, 3, None, False)
    signalled = await (await spawn(supervisor, "signal", "kill -KILL $$", sandbox)).wait()
    assert (signalled.exit_code, signalled.signal) == (None, signal.SIGKILL)
    assert signalled.termination().status == signal.SIGKILL
    assert (sandbox / "stdout").read_text() == "out\n"


async def test_a_burst_of_requests_in_one_turn_each_gets_its_own_answer(
    supervisor: ProcessSupervisor, tmp_path: Path
) -> None:
    """The client sends a turn's requests in one write; the supervisor must still answer
    each, and report each exit, to the right caller."""
    sandboxes = [tmp_path / f"s{n}" for n in range(40)]
    for sandbox in sandboxes:
        sandbox.mkdir()
    processes = await asyncio.gather(
        *(
            spawn(supervisor, f"burst-{n}", f"exit {n}", sandbox)
            for n, sandbox in enumerate(sandboxes)
        )
    )
    assert len({process.pid for process in processes}) == len(sandboxes)
    ends = await asyncio.gather(*(process.wait() for process in processes))
    assert [end.exit_code for end in ends] == list(range(len(sandboxes)))


async def test_requests_of_one_turn_reach_the_supervisor_in_one_write(
    supervisor: ProcessSupervisor, sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await spawn(supervisor, "listed", "exit 0", sandbox)
    writes: list[bytes] = []
    write = asyncio.StreamWriter.write

    def counted(writer: asyncio.StreamWriter, data: bytes) -> None:
        writes.append(bytes(data))
        write(writer, data)

    monkeypatch.setattr(asyncio.StreamWriter, "write", counted)
    answers = await asyncio.gather(*(supervisor.client.list() for _ in range(10)))
    assert [[record.id for record in answer] for answer in answers] == [["listed"]] * 10
    assert len(writes) == 1
    assert writes[0].count(b"\n") == 10


async def test_kill_gives_the_grace_period_then_sigkills(
    supervisor: ProcessSupervisor, sandbox: Path
) -> None:
    heeds = await spawn(supervisor, "heeds", "trap 'exit 0' TERM; touch a; " + WAIT_FOR_GO, sandbox)
    await wait_for(sandbox / "a")
    ending = await heeds.kill(timedelta(seconds=60))
    assert (ending.exit_code, ending.killed) == (0, True)
    ignores = await spawn(supervisor, "ignores", "trap '' TERM; touch b; " + WAIT_FOR_GO, sandbox)
    await wait_for(sandbox / "b")
    ending = await ignores.kill(timedelta(milliseconds=200))
    assert (ending.signal, ending.killed) == (signal.SIGKILL, True)
    assert ending.termination().state is TaskState.TASK_KILLED


async def test_after_an_agent_sigkill_real_ends_are_recovered_once(
    tmp_path: Path, sandbox: Path, sweeper: ProcessSweeper
) -> None:
    scripts = {
        "exits-5": f"touch ready-5; {WAIT_FOR_GO}; exit 5",
        "ends-while-down": "exit 9",
        "ignores-term": "trap '' TERM; touch ready-t; until [ -e never ]; do sleep 0.05; done",
        "orphan": f"echo $$ > orphan; {WAIT_FOR_GO}",
    }
    handles = await asyncio.to_thread(run_agent, tmp_path / "state", sandbox, scripts)
    for ready in ("ready-5", "ready-t", "orphan"):
        await wait_for(sandbox / ready)
    orphan = psutil.Process(int((sandbox / "orphan").read_text()))  # not our child

    recovered = ProcessSupervisor(tmp_path / "state")
    await recovered.start()
    try:
        offered = {name: handles[name] for name in ("exits-5", "ends-while-down", "ignores-term")}
        found = await recovered.recover(offered)
        assert sorted(found) == ["ends-while-down", "exits-5", "ignores-term"]
        assert found["ends-while-down"].exit == ProcessExit(status=9 << 8)
        await asyncio.to_thread(orphan.wait, 30)  # killed: no handle names it
        assert recovered.get("orphan") is None

        (sandbox / "go").touch()
        ends = await asyncio.gather(found["exits-5"].wait(), found["exits-5"].wait())
        assert [end.exit_code for end in ends] == [5, 5]
        killed = await found["ignores-term"].kill(timedelta(milliseconds=200))
        assert (killed.signal, killed.killed) == (signal.SIGKILL, True)
    finally:
        await recovered.close()
    assert sweeper.started_here() == set(), "the daemon exits once nothing runs"


async def test_a_handle_of_an_earlier_launch_is_not_adopted(
    supervisor: ProcessSupervisor, tmp_path: Path, sandbox: Path
) -> None:
    process = await spawn(supervisor, "c1", WAIT_FOR_GO, sandbox)
    running = psutil.Process(process.pid)
    await supervisor.close()
    again = ProcessSupervisor(tmp_path / "state")
    await again.start()
    try:
        stale = {"pid": process.pid, "start_time": process.start_time - 1}
        assert await again.recover({"c1": stale}) == {}
        await asyncio.to_thread(running.wait, 30)  # killed as an orphan
    finally:
        await again.close()


@pytest.mark.parametrize(
    ("process_id", "argv", "cwd", "env", "message"),
    [
        ("bad", ["no-such-program"], None, {}, "Failed to execute 'no-such-program': No such"),
        ("bad", ["/bin/true"], "missing", {}, "Failed to change to the sandbox"),
        ("bad", [], None, {}, "argv must name the program to run"),
        ("bad", ["/bin/true"], None, {"A": "nul\0byte"}, "Environment variable 'A': "),
        ("bad", ["/bin/true"], None, {"A=B": "c"}, "Environment variable 'A=B': "),
        ("bad", ["/bin/echo", "nul\0"], None, {}, "argv: an argument holds NUL"),
        ("../escape", ["/bin/true"], None, {}, "Invalid process id: '../escape' contains '/'"),
        ("..", ["/bin/true"], None, {}, "Invalid process id: '..' is not a file name"),
        ("", ["/bin/true"], None, {}, "Invalid process id: '' is not a file name"),
        ("x" * 251, ["/bin/true"], None, {}, "Invalid process id: it is longer than 250 bytes"),
    ],
)
async def test_a_process_that_cannot_start_is_an_error_naming_the_reason(
    supervisor: ProcessSupervisor,
    sandbox: Path,
    process_id: str,
    argv: list[str],
    cwd: str | None,
    env: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(SupervisorError, match=re.escape(message)):
        await supervisor.spawn(
            process_id,
            argv,
            cwd=sandbox / cwd if cwd else sandbox,
            env={"PATH": "/bin:/usr/bin", **env},
            stdout=OutputSpec(path=os.devnull),
            stderr=OutputSpec(path=os.devnull),
        )
    assert supervisor.get(process_id) is None
    assert await supervisor.client.list() == [], "nothing was started or recorded"
    assert (await (await spawn(supervisor, "good", "exit 0", sandbox)).wait()).exit_code == 0


async def test_ids_are_unique(supervisor: ProcessSupervisor, sandbox: Path) -> None:
    first = await spawn(supervisor, "same", "exit 0", sandbox)
    with pytest.raises(SupervisorError, match="'same' already exists"):
        await spawn(supervisor, "same", "exit 1", sandbox)
    assert (await first.wait()).exit_code == 0


async def test_a_supervisor_started_while_another_serves_leaves_it_the_state_dir(
    supervisor: ProcessSupervisor, tmp_path: Path, sandbox: Path
) -> None:
    """Two clients starting a supervisor at once: the second one's supervisor finds the
    first serving and exits 0 (its client then connects), instead of failing."""
    second = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "dockyard.supervision.server",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    ended = await (await spawn(supervisor, "still-served", "exit 4", sandbox)).wait()
    assert ended.exit_code == 4
