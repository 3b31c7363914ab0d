"""The agent's HTTP API, driven over HTTP against a real agent process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from .calls import launch
from .conftest import RunningAgent, polled, stop_agent
from .recordio import next_event, next_task_update

TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED")


async def test_health_version_and_flags(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    health = await agent.call_json({"type": "GET_HEALTH"})
    assert health == {"type": "GET_HEALTH", "get_health": {"healthy": True}}
    version = await agent.call_json({"type": "GET_VERSION"})
    assert version["get_version"]["version_info"]["version"]
    flags = await agent.call_json({"type": "GET_FLAGS"})
    by_name = {f["name"]: f.get("value") for f in flags["get_flags"]["flags"]}
    assert by_name["containerizers"] == "sample"


async def test_launched_task_runs_to_completion_and_is_listed(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    response = await agent.call(launch("t1", "echo out; echo err >&2"))
    assert response.status == 202
    task = await agent.wait_for_state("t1", *TERMINAL)
    assert task["state"] == "TASK_FINISHED"
    assert [s["state"] for s in task["statuses"]] == [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_FINISHED",
    ]
    sandbox = Path(task["sandbox_directory"])
    assert (sandbox / "stdout").read_text() == "out\n"
    assert (sandbox / "stderr").read_text() == "err\n"
    assert task["container_id"]["value"] == sandbox.name
    assert task["executor_id"] == {"value": "t1"}
    assert task["framework_id"] == {"value": "dockyard"}
    state = await agent.call_json({"type": "GET_STATE"})
    completed = state["get_state"]["get_tasks"]["completed_tasks"]
    assert [t["task_id"]["value"] for t in completed] == ["t1"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ("{not json", 400, "Failed to parse body into JSON"),
        ({"type": "NO_SUCH_CALL"}, 400, "call.type"),
        ({"launch_task": {}}, 400, "call.type: missing required field"),
        ({"type": "LAUNCH_TASK"}, 400, "launch_task"),
        (
            {"type": "LAUNCH_TASK", "launch_task": {"task": {"name": "x"}}},
            400,
            "call.launch_task.task.task_id: missing required field",
        ),
        (launch("bad/id", "true"), 400, "task_id"),
        ({"type": "KILL_TASK", "kill_task": {"task_id": {"value": "ghost"}}}, 404, "ghost"),
        (
            {"type": "WAIT_CONTAINER", "wait_container": {"container_id": {"value": "ghost"}}},
            404,
            "ghost",
        ),
        (
            {"type": "KILL_CONTAINER", "kill_container": {"container_id": {"value": "ghost"}}},
            404,
            "cannot be found",
        ),
        (
            {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": {"value": "ghost"}}},
            404,
            "ghost",
        ),
    ],
)
async def test_bad_requests_are_refused_and_the_agent_keeps_serving(
    make_agent, body: Any, status: int, text: str
) -> None:
    agent: RunningAgent = await make_agent()
    response = await agent.call(body)
    assert response.status == status
    assert text in await response.text()
    assert (await agent.call({"type": "GET_HEALTH"})).status == 200
    assert await agent.tasks() == {}


async def test_a_running_task_id_cannot_be_launched_twice(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    assert (await agent.call(launch("t1", "sleep 30"))).status == 202
    response = await agent.call(launch("t1", "true"))
    assert response.status == 409
    assert "already running" in await response.text()


async def test_kill_task_ends_killed(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "sleep 30"))
    await agent.wait_for_state("t1", "TASK_RUNNING")
    response = await agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": "t1"}}})
    assert response.status == 202
    task = await agent.wait_for_state("t1", *TERMINAL)
    assert task["state"] == "TASK_KILLED"


async def test_subscribers_see_every_transition(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    streams = [
        await agent.session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"})
        for _ in range(20)
    ]
    for stream in streams:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("application/recordio")
        subscribed = await next_event(stream)
        assert subscribed["type"] == "SUBSCRIBED"
    await agent.call(launch("t1", "true"))
    for stream in streams:
        states = [(await next_task_update(stream))["state"] for _ in range(4)]
        assert states == ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
        stream.close()


async def test_a_new_subscriber_gets_the_current_state(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "true"))
    await agent.wait_for_state("t1", "TASK_FINISHED")
    stream = await agent.session.post(f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"})
    subscribed = await next_event(stream)
    tasks = subscribed["subscribed"]["get_state"]["get_tasks"]["completed_tasks"]
    assert [s["state"] for s in tasks[0]["statuses"]][-1] == "TASK_FINISHED"
    stream.close()


async def test_standalone_container_launch_wait_remove(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    cid = {"value": "standalone-1"}
    body = {
        "type": "LAUNCH_CONTAINER",
        "launch_container": {"container_id": cid, "command": {"value": "exit 7"}},
    }
    assert (await agent.call(body)).status == 200
    assert (await agent.call(body)).status == 202, "a known id is ALREADY_LAUNCHED"
    waited = await agent.call_json(
        {"type": "WAIT_CONTAINER", "wait_container": {"container_id": cid}}
    )
    assert waited["wait_container"]["exit_status"] == 7 << 8
    sandbox = agent.work_dir / "containers" / "standalone-1"
    assert sandbox.is_dir()
    response = await agent.call(
        {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": cid}}
    )
    assert response.status == 200
    assert not sandbox.exists()


async def test_kill_container_sends_the_signal(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    cid = {"value": "c1"}
    await agent.call(
        {
            "type": "LAUNCH_CONTAINER",
            "launch_container": {"container_id": cid, "command": {"value": "sleep 30"}},
        }
    )
    remove = await agent.call(
        {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": cid}}
    )
    assert remove.status == 500, "a running container cannot be removed"
    kill = {"type": "KILL_CONTAINER", "kill_container": {"container_id": cid, "signal": 15}}
    assert (await agent.call(kill)).status == 200
    waited = await agent.call_json(
        {"type": "WAIT_CONTAINER", "wait_container": {"container_id": cid}}
    )
    assert waited["wait_container"]["exit_status"] == signal.SIGTERM


async def test_files_browse_and_read_a_sandbox(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "printf 0123456789"))
    task = await agent.wait_for_state("t1", "TASK_FINISHED")
    sandbox = task["sandbox_directory"]
    async with agent.session.get(f"{agent.url}/files/browse", params={"path": sandbox}) as r:
        assert r.status == 200
        names = {Path(e["path"]).name for e in await r.json()}
    assert {"stdout", "stderr"} <= names
    params = {"path": f"{sandbox}/stdout", "offset": "3", "length": "4"}
    async with agent.session.get(f"{agent.url}/files/read", params=params) as r:
        assert await r.json() == {"data": "3456", "offset": 3}
    params = {"path": f"{sandbox}/stdout", "offset": "-1"}
    async with agent.session.get(f"{agent.url}/files/read", params=params) as r:
        assert await r.json() == {"data": "", "offset": 10}


async def test_files_outside_sandboxes_are_refused(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "ln -s /etc escape"))
    task = await agent.wait_for_state("t1", "TASK_FINISHED")
    sandbox = task["sandbox_directory"]
    for path in (
        "/etc/passwd",
        f"{sandbox}/../../../../../../../../etc/passwd",
        f"{sandbox}/escape/passwd",
        f"{sandbox}/escape",
        str(agent.work_dir / "meta"),
    ):
        for endpoint in ("browse", "read"):
            async with agent.session.get(
                f"{agent.url}/files/{endpoint}", params={"path": path}
            ) as r:
                assert r.status == 403, (endpoint, path)
    async with agent.session.get(
        f"{agent.url}/files/read", params={"path": f"{sandbox}/missing"}
    ) as r:
        assert r.status == 404


async def test_metrics_snapshot_and_prometheus(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "true"))
    await agent.wait_for_state("t1", "TASK_FINISHED")
    async with agent.session.get(f"{agent.url}/metrics/snapshot") as r:
        snapshot = await r.json()
    assert snapshot["slave/tasks_finished"] == 1
    assert snapshot["slave/tasks_running"] == 0
    async with agent.session.get(f"{agent.url}/metrics") as r:
        text = await r.text()
    assert "dockyard_slave_tasks_finished 1.0" in text


async def test_every_request_gets_an_access_log_line(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    assert (await agent.call({"type": "GET_HEALTH"})).status == 200
    async with agent.session.get(f"{agent.url}/metrics/snapshot?x=1") as response:
        assert response.status == 200
    assert (await agent.call("{not json")).status == 400
    log = agent.log
    assert log is not None

    def access_lines() -> list[str]:  # each written once its response is sent
        return [line for line in log.read_text().splitlines() if "aiohttp.access" in line]

    await polled(lambda: len(access_lines()) == 3)
    lines = access_lines()
    request_line = r'"(POST /api/v1|GET /metrics/snapshot\?x=1) HTTP/1\.1"'
    pattern = rf"127\.0\.0\.1 \[\d\d/\w{{3}}/\d{{4}}:\d\d:\d\d:\d\d \+0000\] {request_line} "
    assert all(re.search(pattern + r"(200|400) \d+ [\d.]+ms$", line) for line in lines), lines
    assert [line.split('" ')[1].split()[0] for line in lines] == ["200", "200", "400"]


async def test_sigterm_shuts_down_cleanly_and_leaves_tasks_running(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    await agent.call(launch("t1", "echo $$ > pid; sleep 30"))
    task = await agent.wait_for_state("t1", "TASK_RUNNING")
    pid_file = Path(task["sandbox_directory"]) / "pid"
    async with asyncio.timeout(10):
        # Another process writes the file: there is nothing to await but the file itself.
        while not pid_file.exists() or not pid_file.read_text().strip():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    pid = int(pid_file.read_text())
    assert stop_agent(agent.process) == 0
    try:
        os.kill(pid, 0)  # still alive
    finally:
        os.kill(pid, signal.SIGKILL)


async def test_max_completion_time_kills_at_once_without_task_killing(make_agent) -> None:
    """Mesos's executors: TASK_FAILED with no TASK_KILLING, and no grace period."""
    agent: RunningAgent = await make_agent("--containerizers=mesos")
    body = launch(
        "slow",
        "trap '' TERM; sleep 600",
        max_completion_time={"nanoseconds": 200_000_000},
        kill_policy={"grace_period": {"nanoseconds": 600 * 10**9}},
    )
    body["launch_task"]["framework_info"] = {
        "user": "root",
        "name": "fw",
        "id": {"value": "fw"},
        "capabilities": [{"type": "TASK_KILLING_STATE"}],
    }
    assert (await agent.call(body)).status == 202
    task = await agent.wait_for_state("slow", *TERMINAL)
    assert [s["state"] for s in task["statuses"]] == [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_FAILED",
    ]
    assert task["statuses"][-1]["reason"] == "REASON_MAX_COMPLETION_TIME_REACHED"
