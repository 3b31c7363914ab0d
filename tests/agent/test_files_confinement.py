"""/files against hostile tasks: real ``mesos`` tasks running as ``nobody`` that race the
agent with symlink swaps, or plant FIFOs and sockets, in their sandbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.mesos.harness import until

from .conftest import RunningAgent, needs_root

pytest.importorskip("dockyard_mesos")


MESOS = "--containerizers=mesos"
PYTHON = "/usr/bin/python3"
READS = 10_000
CONCURRENT_READS = 32

SWAPPER = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
os.mkdir("real")
with open("real/secret", "w") as file:
    file.write("harmless")
os.symlink(os.environ["SECRET_DIR"], "swap")
os.nice(19)  # leave the CPU to the agent: the race needs no speed, only persistence
open("ready", "w").close()
while True:  # RENAME_EXCHANGE: "real" is the directory, then the link, then the directory...
    libc.renameat2(-100, b"real", -100, b"swap", 2)
"""


def launch(task_id: str, command: str, **command_fields: Any) -> dict[str, Any]:
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": command, **command_fields},
    }
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}


@pytest.fixture
def secret_dir(public_dir: Path) -> Path:
    """Outside every sandbox: a file ``secret`` only root can read."""
    directory = public_dir / "outside"
    directory.mkdir(mode=0o755)
    secret = directory / "secret"
    secret.write_text(f"TOP-SECRET-{uuid.uuid4().hex}")
    secret.chmod(0o600)
    return directory


async def start_task(agent: RunningAgent, task_id: str, command: str, **extra: Any) -> Path:
    response = await agent.call(launch(task_id, command, **extra))
    assert response.status == 202, await response.text()
    task = await agent.wait_for_state(task_id, "TASK_RUNNING", "TASK_FAILED", "TASK_FINISHED")
    assert task["state"] == "TASK_RUNNING", task["statuses"][-1]
    return Path(task["sandbox_directory"])


async def get(agent: RunningAgent, endpoint: str, **params: str) -> tuple[int, str]:
    async with agent.session.get(f"{agent.url}/files/{endpoint}", params=params) as response:
        return response.status, await response.text()


@pytest.mark.root
@needs_root
async def test_symlink_swaps_never_leak_a_file_outside_the_sandbox(
    public_dir: Path, secret_dir: Path, make_agent
) -> None:
    agent: RunningAgent = await make_agent(MESOS, work_dir=public_dir / "work")
    sandbox = await start_task(
        agent,
        "swapper",
        f"{PYTHON} -c '{SWAPPER}'",
        user="nobody",
        environment={"variables": [{"name": "SECRET_DIR", "value": str(secret_dir)}]},
    )
    await until((sandbox / "ready").exists)
    secret = (secret_dir / "secret").read_text()
    outcomes: Counter[str] = Counter()
    paths = iter(range(READS))

    async def reader() -> None:
        for _ in paths:
            status, body = await get(agent, "read", path=f"{sandbox}/real/secret")
            if secret in body:
                outcomes["leaked"] += 1
            elif status == 200 and "harmless" in body:
                outcomes["sandbox file"] += 1
            elif status in (403, 404):
                outcomes["refused"] += 1
            else:
                outcomes[f"HTTP {status}: {body[:80]}"] += 1

    async with asyncio.timeout(120):
        await asyncio.gather(*(reader() for _ in range(CONCURRENT_READS)))
    assert outcomes["leaked"] == 0, outcomes
    assert outcomes["sandbox file"] + outcomes["refused"] == READS, outcomes
    assert outcomes["sandbox file"], f"no read got the sandbox file: {outcomes}"
    assert outcomes["refused"], f"no read met the swapped-in link: {outcomes}"


@pytest.mark.root
@needs_root
async def test_fifos_and_sockets_are_refused_at_once_and_nothing_else_waits(
    public_dir: Path, make_agent
) -> None:
    agent: RunningAgent = await make_agent(MESOS, work_dir=public_dir / "work")
    plant = (
        "import os, socket, time\n"
        "os.mkfifo('fifo')\n"
        "socket.socket(socket.AF_UNIX).bind('socket')\n"
        "print('planted', flush=True)\n"
        "open('ready', 'w').close()\n"
        "time.sleep(600)\n"
    )
    sandbox = await start_task(agent, "planter", f'{PYTHON} -c "{plant}"', user="nobody")
    await until((sandbox / "ready").exists)
    payload = public_dir / "payload.txt"
    payload.write_text("fetched")
    payload.chmod(0o644)

    async def fetching_task() -> dict[str, Any]:
        response = await agent.call(
            launch("fetching", "cat payload.txt", uris=[{"value": f"file://{payload}"}])
        )
        assert response.status == 202
        return await agent.wait_for_state("fetching", "TASK_FINISHED", "TASK_FAILED")

    async with asyncio.timeout(60):  # on a blocking agent the FIFO reads never answer
        fifo_reads = [get(agent, "read", path=f"{sandbox}/fifo") for _ in range(16)]
        other = [
            get(agent, "read", path=f"{sandbox}/stdout"),
            get(agent, "read", path=f"{sandbox}/socket"),
            get(agent, "browse", path=str(sandbox)),
        ]
        *fifos, stdout, sock, listing = await asyncio.gather(*fifo_reads, *other)
        fetched = await fetching_task()
    for status, body in fifos:
        assert status == 403
        assert "is a FIFO" in body
    assert stdout[0] == 200
    assert "planted" in stdout[1]
    assert sock[0] == 403
    assert "is a socket" in sock[1]
    assert listing[0] == 200
    assert {"fifo", "socket", "stdout"} <= {Path(e["path"]).name for e in json.loads(listing[1])}
    assert fetched["state"] == "TASK_FINISHED"
    status, body = await get(
        agent, "read", path=f"{fetched['sandbox_directory']}/stdout", offset="0"
    )
    assert (status, json.loads(body)["data"]) == (200, "fetched")


BAD_READS = [
    ({"path": "{sandbox}/std\0out"}, "NUL byte"),
    ({"path": "{sandbox}/stdout", "offset": str(2**63)}, "offset"),
    ({"path": "{sandbox}/stdout", "offset": "9" * 5000}, "offset"),
    ({"path": "{sandbox}/stdout", "offset": "-2"}, "offset"),
    ({"path": "{sandbox}/stdout", "offset": "1.5"}, "offset"),
    ({"path": "{sandbox}/stdout", "offset": ""}, "offset"),
    ({"path": "{sandbox}/stdout", "length": "-1"}, "length"),
    ({"path": "{sandbox}/stdout", "length": "ten"}, "length"),
    ({"path": "{sandbox}/stdout", "length": str(2**64)}, "length"),
    ({"path": "{sandbox}"}, "Cannot read a directory"),
    ({"path": "{sandbox}/" + "x" * 300}, "File name too long"),
    ({}, "Expecting 'path'"),
]


async def test_bad_read_parameters_are_400_with_a_reason(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "printf 0123456789"))
    task = await agent.wait_for_state("t1", "TASK_FINISHED")
    for params, message in BAD_READS:
        filled = {k: v.format(sandbox=task["sandbox_directory"]) for k, v in params.items()}
        status, body = await get(agent, "read", **filled)
        assert status == 400, (params, body)
        assert message in body, (params, body)
    status, body = await get(agent, "read", path=f"{task['sandbox_directory']}/stdout")
    assert (status, json.loads(body)["data"]) == (200, "0123456789"), "the agent still serves"


async def test_huge_offsets_within_range_read_nothing(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "printf 0123456789"))
    task = await agent.wait_for_state("t1", "TASK_FINISHED")
    stdout = f"{task['sandbox_directory']}/stdout"
    status, body = await get(agent, "read", path=stdout, offset=str(2**63 - 1), length="5")
    assert (status, json.loads(body)) == (200, {"data": "", "offset": 2**63 - 1})


async def test_latest_leads_to_the_newest_run(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "printf via-latest"))
    task = await agent.wait_for_state("t1", "TASK_FINISHED")
    sandbox = Path(task["sandbox_directory"])
    latest = sandbox.parent / "latest"
    status, body = await get(agent, "read", path=f"{latest}/stdout")
    assert (status, json.loads(body)["data"]) == (200, "via-latest")
    status, body = await get(agent, "browse", path=str(latest))
    assert status == 200
    assert f"{latest}/stdout" in {entry["path"] for entry in json.loads(body)}
    status, body = await get(agent, "browse", path=str(sandbox.parent))
    assert {"latest", sandbox.name} <= {Path(entry["path"]).name for entry in json.loads(body)}
