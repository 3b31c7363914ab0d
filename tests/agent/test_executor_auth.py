"""Executor authentication: only an executor, with the token the agent gave it, may call the
executor API as itself, and only about its own tasks.

A real agent runs the standard-library executor (``stdlib_executor.py``), which sends its
``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``. The forged calls come from the test, as any local
process could send them; tokens are minted with PyJWT, with the agent's key (given by
``--executor_secret_key``) or another.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from tests.docker.waiting import text, until

from .conftest import RunningAgent, stop_agent
from .recordio import next_event, next_task_update
from .test_executors import MESOS, executor_task, states

pytest.importorskip("dockyard_mesos")

SECRET = "s3cr3t-of-the-executor"
WAIT_FOR_GO = "while [ ! -f go ]; do sleep 0.05; done"
SAVE_TOKEN = 'printf %s "${MESOS_EXECUTOR_AUTHENTICATION_TOKEN-unset}" > token; ' + WAIT_FOR_GO
Claims = dict[str, str]
FINISHED = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
RUNNING_TWICE = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING", "TASK_FINISHED"]


def launch(task_id: str, executor_id: str, command: str = WAIT_FOR_GO, **kwargs: Any) -> Any:
    """A task of ``executor_id``, whose executor holds a SECRET environment variable."""
    body = executor_task(task_id, command, executor_id=executor_id, **kwargs)
    secret = {"type": "VALUE", "value": {"data": base64.b64encode(SECRET.encode()).decode()}}
    body["launch_task"]["task"]["executor"]["command"]["environment"] = {
        "variables": [{"name": "API_KEY", "type": "SECRET", "secret": secret}]
    }
    return body


def mint(key: bytes | None, claims: dict[str, Any], algorithm: str = "HS256") -> dict[str, str]:
    # PyJWT wants the key None for alg "none", which its annotations do not allow.
    token = jwt.encode(claims, key, algorithm=algorithm)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def forgeries(key: bytes, mine: Claims, others: Claims) -> list[tuple[str, dict[str, str], int]]:
    """(name, headers, expected status) of calls that pose as the executor ``mine``."""
    basic = aiohttp.encode_basic_auth("ops", "s3cret")
    return [
        ("no token", {}, 401),
        ("not a JWT", {"Authorization": "Bearer not-a-jwt"}, 401),
        ("basic credentials", {"Authorization": basic}, 401),
        ("another key", mint(secrets.token_bytes(32), mine), 401),
        ("expired", mint(key, {**mine, "exp": int(time.time()) - 60}), 401),
        ("unsigned", mint(None, mine, algorithm="none"), 401),
        ("claims missing", mint(key, {"fid": mine["fid"], "eid": mine["eid"]}), 401),
        ("another executor's", mint(key, others), 403),
        ("another framework's", mint(key, {**mine, "fid": "other"}), 403),
        ("an earlier container's", mint(key, {**mine, "cid": str(uuid.uuid4())}), 403),
    ]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "executor.key"
    path.write_bytes(secrets.token_bytes(32))
    path.chmod(0o600)
    return path


async def two_executors(make_agent: Any, key_file: Path) -> tuple[RunningAgent, Claims, Claims]:
    """An agent running task t1 on executor ex1 and t2 on ex2; each one's token claims."""
    agent: RunningAgent = await make_agent(MESOS, f"--executor_secret_key={key_file}")
    assert (await agent.call(launch("t1", "ex1"))).status == 202
    assert (await agent.call(launch("t2", "ex2"))).status == 202
    t1 = await agent.wait_for_state("t1", "TASK_RUNNING")
    t2 = await agent.wait_for_state("t2", "TASK_RUNNING")
    ex1 = {"fid": "fw", "eid": "ex1", "cid": t1["container_id"]["value"]}
    ex2 = {"fid": "fw", "eid": "ex2", "cid": t2["container_id"]["value"]}
    return agent, ex1, ex2


async def finish(agent: RunningAgent, *task_ids: str, expected: list[str] = FINISHED) -> None:
    """Let the tasks end; unless told otherwise, they end as if nothing had happened."""
    for task_id in task_ids:
        task = (await agent.tasks())[task_id]
        (Path(task["sandbox_directory"]) / "go").touch()
        done = await agent.wait_for_state(task_id, "TASK_FINISHED", "TASK_FAILED", "TASK_LOST")
        assert states(done) == expected, task_id


def executor_call(kind: str, executor_id: str, **body: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "framework_id": {"value": "fw"},
        "executor_id": {"value": executor_id},
        **body,
    }


async def post(
    agent: RunningAgent, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, str]:
    """A call that is not SUBSCRIBE: its status and text."""
    async with agent.session.post(
        f"{agent.url}/api/v1/executor", json=body, headers=headers
    ) as response:
        return response.status, await response.text()


async def recorded(
    agent: RunningAgent, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """The status an accepted UPDATE became, once the agent published it (and so recorded it)."""
    message = body["update"]["status"]["message"]
    async with agent.session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"}) as stream:
        await next_event(stream)  # SUBSCRIBED: the stream is open
        assert (await post(agent, body, headers))[0] == 202
        async with asyncio.timeout(30):
            while (status := await next_task_update(stream)).get("message") != message:
                pass
    task = (await agent.tasks())[status["task_id"]["value"]]
    assert task["statuses"][-1] == status
    return status


def update(task_id: str, state: str, **fields: Any) -> dict[str, Any]:
    status = {
        "task_id": {"value": task_id},
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        **fields,
    }
    return {"status": status}


async def test_a_forged_subscribe_is_refused_and_learns_nothing(make_agent, key_file) -> None:
    agent, ex1, ex2 = await two_executors(make_agent, key_file)
    subscribe = executor_call("SUBSCRIBE", "ex1", subscribe={})
    for name, headers, expected in forgeries(key_file.read_bytes(), ex1, ex2):
        async with agent.session.post(
            f"{agent.url}/api/v1/executor", json=subscribe, headers=headers
        ) as response:
            assert response.status == expected, name
            body = await response.text()
        for learned in ("t1", "LAUNCH", SECRET, base64.b64encode(SECRET.encode()).decode()):
            assert learned not in body, name
        if expected == 401:
            challenge = response.headers["WWW-Authenticate"]
            assert challenge.startswith('Bearer realm="dockyard-executor"'), name
            assert ('error="invalid_token"' in challenge) == bool(headers), name
    await finish(agent, "t1", "t2")  # the executors' own subscriptions were left alone


async def test_a_forged_update_is_refused_and_the_task_is_unchanged(make_agent, key_file) -> None:
    agent, ex1, ex2 = await two_executors(make_agent, key_file)
    key = key_file.read_bytes()
    before = (await agent.tasks())["t1"]
    finished = executor_call("UPDATE", "ex1", update=update("t1", "TASK_FINISHED"))
    for name, headers, expected in forgeries(key, ex1, ex2):
        assert (await post(agent, finished, headers))[0] == expected, name
    message = executor_call("MESSAGE", "ex1", message={"data": base64.b64encode(b"hi").decode()})
    for call in (executor_call("HEARTBEAT", "ex1"), message):
        assert (await post(agent, call, {}))[0] == 401
        assert (await post(agent, call, mint(key, ex2)))[0] == 403
    # ex2, authenticated, about a task that ex1 runs: refused whether or not auth is on.
    of_another = executor_call("UPDATE", "ex2", update=update("t1", "TASK_FINISHED"))
    status, reason = await post(agent, of_another, mint(key, ex2))
    assert (status, reason) == (400, "Task 't1' is not a task of this executor")
    assert (await agent.tasks())["t1"] == before
    await finish(agent, "t1", "t2")


async def test_an_executor_cannot_forge_what_the_agent_owns_in_a_status(
    make_agent, key_file
) -> None:
    agent, ex1, _ = await two_executors(make_agent, key_file)
    forged = update(
        "t1",
        "TASK_RUNNING",
        agent_id={"value": "forged-agent"},
        container_status={"container_id": {"value": "forged-container"}},
        message="still running",
    )
    body = executor_call("UPDATE", "ex1", update=forged)
    status = await recorded(agent, body, mint(key_file.read_bytes(), ex1))
    staging = (await agent.tasks())["t1"]["statuses"][0]
    assert status["agent_id"] == staging["agent_id"]
    assert status["container_status"]["container_id"]["value"] == ex1["cid"]
    assert status["executor_id"] == {"value": "ex1"}
    assert status["source"] == "SOURCE_EXECUTOR"
    await finish(agent, "t1", expected=RUNNING_TWICE)
    await finish(agent, "t2")


async def test_the_generated_key_is_kept_and_tokens_survive_an_agent_restart(make_agent) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    await agent.call(launch("t1", "ex1", SAVE_TOKEN, checkpoint=True))
    before = await agent.wait_for_state("t1", "TASK_RUNNING")
    sandbox = Path(before["sandbox_directory"])
    key_path = agent.work_dir / "meta" / "executor_secret_key"
    key = key_path.read_bytes()
    assert len(key) == 32
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    await until(lambda: text(sandbox / "token") != "")
    claims = jwt.decode(text(sandbox / "token"), key, algorithms=["HS256"])
    assert claims == {"fid": "fw", "eid": "ex1", "cid": before["container_id"]["value"]}
    stop_agent(agent.process, signal.SIGKILL)

    port = agent.url.rsplit(":", 1)[1]  # the executor knows the agent by its endpoint
    restarted: RunningAgent = await make_agent(MESOS, f"--port={port}", work_dir=agent.work_dir)
    (sandbox / "go").touch()
    task = await restarted.wait_for_state("t1", "TASK_FINISHED", "TASK_FAILED", "TASK_LOST")
    assert states(task) == FINISHED, "it resubscribed with the token it was launched with"
    assert key_path.read_bytes() == key


async def test_without_executor_authentication_any_caller_is_the_executor(make_agent) -> None:
    """``--no-authenticate_http_executors``: Mesos's default, and unsafe."""
    agent: RunningAgent = await make_agent(MESOS, "--no-authenticate_http_executors")
    await agent.call(launch("t1", "ex1", SAVE_TOKEN))
    task = await agent.wait_for_state("t1", "TASK_RUNNING")
    sandbox = Path(task["sandbox_directory"])
    await until(lambda: text(sandbox / "token") == "unset")
    assert not (agent.work_dir / "meta" / "executor_secret_key").exists()
    body = executor_call("UPDATE", "ex1", update=update("t1", "TASK_RUNNING", message="anyone"))
    assert (await recorded(agent, body, {}))["source"] == "SOURCE_EXECUTOR"
    await finish(agent, "t1", expected=RUNNING_TWICE)


async def test_the_token_is_in_no_response_event_checkpoint_or_log(
    make_agent, tmp_path: Path
) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    events = bytearray()

    async def record_events() -> None:
        async with agent.session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"}) as r:
            async for chunk in r.content.iter_any():
                events.extend(chunk)

    recorder = asyncio.create_task(record_events())
    try:
        await until(lambda: bool(events))
        await agent.call(launch("t1", "ex1", SAVE_TOKEN, checkpoint=True))
        task = await agent.wait_for_state("t1", "TASK_RUNNING")
        sandbox = Path(task["sandbox_directory"])
        await until(lambda: text(sandbox / "token") not in ("", "unset"))
        token = text(sandbox / "token")
        signature = token.rsplit(".", 1)[1]
        responses = [
            await agent.call_json({"type": call})
            for call in ("GET_STATE", "GET_TASKS", "GET_CONTAINERS", "GET_FLAGS")
        ]
        (sandbox / "go").touch()
        await agent.wait_for_state("t1", "TASK_FINISHED")
    finally:
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
    assert signature not in str(responses)
    assert b"TASK_FINISHED" in events
    assert signature.encode() not in events
    stop_agent(agent.process)
    checkpoints = [path for path in (agent.work_dir / "meta").rglob("*") if path.is_file()]
    assert any(path.name.endswith(".json") for path in checkpoints)
    for path in checkpoints:
        assert signature.encode() not in path.read_bytes(), path
    log = (tmp_path / "agent-0.log").read_bytes()
    assert b"serving on" in log
    assert signature.encode() not in log


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "--executor_secret_key: cannot read"),
        (b"short\n", "holds 6 bytes; an HS256 key needs at least 32"),
    ],
)
def test_an_unusable_secret_key_stops_the_agent_at_start_up(
    tmp_path: Path, content: bytes | None, error: str
) -> None:
    key = tmp_path / "executor.key"
    if content is not None:
        key.write_bytes(content)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard.cli",
            "agent",
            "--port=0",
            "--containerizers=mesos",
            f"--work_dir={tmp_path / 'work'}",
            f"--executor_secret_key={key}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert error in result.stderr
    assert "Traceback" not in result.stderr
