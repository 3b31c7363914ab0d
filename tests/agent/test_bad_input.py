"""Hostile input to a real agent: a 4xx naming the problem, nothing on disk, no error logged.

Each body here reached a 500 (or worse, a 202) before ids and JSON bodies had one set of
rules; the longest valid ids must still work end to end, through checkpoints and plugins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from dockyard.api.last_resort import MARKER

from .conftest import RunningAgent, stop_agent


def launch(task_id: str = "t", framework_id: str | None = None) -> dict[str, Any]:
    task = {"name": "t", "task_id": {"value": task_id}, "command": {"value": "true"}}
    body: dict[str, Any] = {"task": task}
    if framework_id is not None:
        body["framework_info"] = {"user": "nobody", "name": "f", "id": {"value": framework_id}}
    return {"type": "LAUNCH_TASK", "launch_task": body}


def launch_container(
    container_id: dict[str, Any], command: str = "true", user: str | None = None
) -> dict[str, Any]:
    info = {"value": command} if user is None else {"value": command, "user": user}
    return {
        "type": "LAUNCH_CONTAINER",
        "launch_container": {"container_id": container_id, "command": info},
    }


def nested(levels: int) -> dict[str, Any]:
    container_id: dict[str, Any] = {"value": "c0"}
    for level in range(1, levels):
        container_id = {"value": f"c{level}", "parent": container_id}
    return container_id


def wait(container_id: dict[str, Any]) -> dict[str, Any]:
    return {"type": "WAIT_CONTAINER", "wait_container": {"container_id": container_id}}


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def assert_log_clean(agent: RunningAgent) -> None:
    assert agent.log is not None
    text = agent.log.read_text()
    assert "Traceback" not in text
    assert MARKER not in text


LONG_DIGITS = "1" * 5000
OPERATOR_CASES: list[tuple[str, bytes | str | dict[str, Any], str]] = [
    (
        "non-UTF-8 body",
        b'{"type": "GET_HEALTH", "x": "\xff\xfe"}',
        "Failed to parse body into JSON: call: not valid UTF-8 (byte 0xff at ",
    ),
    (
        "lone surrogate",
        '{"type": "LAUNCH_TASK", "launch_task": {"task": {"name": "t", '
        '"task_id": {"value": "\\ud800"}, "command": {"value": "true"}}}}',
        "call.launch_task.task.task_id.value: contains a lone surrogate (\\ud800)",
    ),
    (
        "5000-digit integer",
        '{"type": "GET_HEALTH", "n": ' + LONG_DIGITS + "}",
        "call: a number has more than 4300 digits",
    ),
    (
        "5000-digit integer in a string",
        '{"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "c"}, '
        '"signal": "' + LONG_DIGITS + '"}}',
        "call.kill_container.signal: not a valid integer",
    ),
    ("100k-deep [", "[" * 100_000, "call: nested more than 64 levels deep"),
    ("400-deep container_id.parent", wait(nested(400)), "call: nested more than 64 levels deep"),
    (
        "40-deep container_id.parent",
        wait(nested(40)),
        "call.wait_container.container_id: must not be nested more than 32 levels deep",
    ),
    (
        "256-byte task id",
        launch("t" * 256),
        "call.launch_task.task.task_id.value: ID must not be greater than 255 bytes",
    ),
    (
        "256-byte task id of 2-byte characters",
        launch("é" * 128),
        "call.launch_task.task.task_id.value: ID must not be greater than 255 bytes",
    ),
    (
        "framework id with '/'",
        launch(framework_id="../../../../../../srv/evil"),
        "call.launch_task.framework_info.id.value: '../../../../../../srv/evil' contains "
        "invalid characters",
    ),
    (
        "256-byte framework id",
        launch(framework_id="f" * 256),
        "call.launch_task.framework_info.id.value: ID must not be greater than 255 bytes",
    ),
    (
        "237-byte container id",
        launch_container({"value": "c" * 237}),
        "call.launch_container.container_id.value: ID must not be greater than 236 bytes",
    ),
    (
        "nested container ids longer than 236 bytes together",
        launch_container({"value": "c" * 200, "parent": {"value": "p" * 36}}),
        "call.launch_container.container_id: '" + "p" * 36 + "." + "c" * 200 + "' (the parents",
    ),
    *(
        [
            (
                f"user {user!r} (the agent switches users as root)",
                launch_container({"value": "c"}, user=user),
                f"Failed to launch container: Failed to create sandbox: user {user!r} "
                "does not exist",
            )
            for user in ("no-such-user", "a\x00b")
        ]
        if os.geteuid() == 0
        else []
    ),
    (
        "signal out of range",
        {
            "type": "KILL_CONTAINER",
            "kill_container": {"container_id": {"value": "c"}, "signal": 99},
        },
        "call.kill_container.signal: must be a signal number from 1 to 64",
    ),
]

EXECUTOR = {"executor_id": {"value": "e"}, "framework_id": {"value": "f"}}
EXECUTOR_CASES: list[tuple[str, bytes | str | dict[str, Any], str]] = [
    ("non-UTF-8 body", b'{"type": "HEARTBEAT"\xc3}', "call: not valid UTF-8"),
    (
        "lone surrogate",
        '{"type": "HEARTBEAT", "executor_id": {"value": "\\udfff"}, '
        '"framework_id": {"value": "f"}}',
        "call.executor_id.value: contains a lone surrogate (\\udfff)",
    ),
    (
        "5000-digit integer",
        '{"type": "HEARTBEAT", "n": ' + LONG_DIGITS + "}",
        "call: a number has more than 4300 digits",
    ),
    ("100k-deep [", "[" * 100_000, "call: nested more than 64 levels deep"),
    (
        "executor id with '/'",
        {**EXECUTOR, "type": "HEARTBEAT", "executor_id": {"value": "../e"}},
        "executor_id.value: '../e' contains invalid characters",
    ),
    (
        "200-byte task id in an update",
        {
            **EXECUTOR,
            "type": "UPDATE",
            "update": {
                "status": {
                    "task_id": {"value": "t" * 256},
                    "state": "TASK_RUNNING",
                    "source": "SOURCE_EXECUTOR",
                    "uuid": "AAECAwQFBgcICQoLDA0ODw==",
                }
            },
        },
        "update.status.task_id.value: ID must not be greater than 255 bytes",
    ),
]


async def post(
    agent: RunningAgent, path: str, body: bytes | str | dict[str, Any]
) -> tuple[int, str]:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    async with agent.session.post(f"{agent.url}{path}", data=data) as response:
        return response.status, await response.text()


async def test_bad_bodies_are_400s_naming_the_problem(make_agent) -> None:
    # Executor authentication off, so that executor call bodies are read (with it on they are
    # refused before reading: tests/agent/test_executor_auth.py).
    agent: RunningAgent = await make_agent(
        "--containerizers=sample", "--no-authenticate_http_executors"
    )
    before = tree(agent.work_dir)
    failures = []
    for path, cases in (("/api/v1", OPERATOR_CASES), ("/api/v1/executor", EXECUTOR_CASES)):
        for name, body, expected in cases:
            status, text = await post(agent, path, body)
            if status != 400 or expected not in text:
                failures.append(f"{path} {name}: {status} {text[:300]!r}")
    assert not failures, "\n".join(failures)
    assert (await agent.call({"type": "GET_HEALTH"})).status == 200
    assert tree(agent.work_dir) == before
    assert await agent.tasks() == {}
    assert_log_clean(agent)


@pytest.mark.skipif(os.geteuid() != 0, reason="the agent switches users only as root")
async def test_a_task_of_a_user_that_cannot_exist_fails_without_a_traceback(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    body = launch("t")
    body["launch_task"]["task"]["command"]["user"] = "a\x00b"
    assert (await agent.call(body)).status == 202
    task = await agent.wait_for_state("t", "TASK_FAILED")
    assert task["statuses"][-1]["message"] == (
        "Failed to launch container: Failed to create sandbox: user 'a\\x00b' does not exist"
    )
    assert_log_clean(agent)


async def test_a_framework_id_cannot_place_a_sandbox_outside_the_work_dir(
    make_agent, tmp_path: Path
) -> None:
    """``slaves/<agent>/frameworks/`` + four ``..`` is the directory holding the work dir."""
    agent: RunningAgent = await make_agent()
    response = await agent.call(launch(framework_id="../../../../escaped"))
    assert response.status == 400
    assert "call.launch_task.framework_info.id.value" in await response.text()
    assert not (tmp_path / "escaped").exists()
    assert not (agent.work_dir / "slaves").exists()
    assert await agent.tasks() == {}


async def test_the_longest_ids_work_end_to_end_and_survive_a_restart(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    task_id = "é" * 127 + "t"  # 255 bytes
    assert (await agent.call(launch(task_id, framework_id="f" * 255))).status == 202
    finished = await agent.wait_for_state(task_id, "TASK_FINISHED")
    assert Path(finished["sandbox_directory"]).parent.parent.name == task_id
    standalone: list[dict[str, Any]] = [
        {"value": "c" * 236},
        {"value": "c" * 199, "parent": {"value": "p" * 36}},
    ]
    for container_id in standalone:
        assert (await agent.call(launch_container(container_id))).status == 200
        waited = await agent.call_json(wait(container_id))
        assert waited["wait_container"]["exit_status"] == 0
    longest = max(
        len(os.fsencode(name)) for path in agent.work_dir.rglob("*") for name in [path.name]
    )
    assert longest <= 255
    assert_log_clean(agent)
    stop_agent(agent.process)
    again: RunningAgent = await make_agent(work_dir=agent.work_dir)
    assert (await again.tasks())[task_id]["state"] == "TASK_FINISHED"
    for container_id in standalone:
        assert (await again.call_json(wait(container_id)))["wait_container"]["exit_status"] == 0


async def test_a_valid_container_id_is_a_valid_file_name_for_the_mesos_plugin(make_agent) -> None:
    """236 bytes of 'é' once became a 708-byte record name in the plugin."""
    agent: RunningAgent = await make_agent("--containerizers=mesos")
    container_id = {"value": "é" * 118}
    assert (await agent.call(launch_container(container_id, "exit 3"))).status == 200
    waited = await agent.call_json(wait(container_id))
    assert waited["wait_container"]["exit_status"] == 3 << 8
    assert_log_clean(agent)


@pytest.mark.parametrize(
    "query",
    ["path={sandbox}/std%00out", "path={sandbox}/stdout&offset=9223372036854775808"],
    ids=["nul-in-path", "offset-2**63"],
)
async def test_hostile_files_queries_are_refused_by_files_itself(make_agent, query: str) -> None:
    agent: RunningAgent = await make_agent()
    assert (await agent.call(launch("t"))).status == 202
    sandbox = (await agent.wait_for_state("t", "TASK_FINISHED"))["sandbox_directory"]
    target = f"{agent.url}/files/read?{query.format(sandbox=sandbox)}"
    async with agent.session.get(target) as response:
        assert 400 <= response.status < 500
        assert await response.text()
    assert_log_clean(agent)
