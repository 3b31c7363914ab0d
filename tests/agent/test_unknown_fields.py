"""Unknown JSON keys in API calls: accepted with a warning (response and log), or refused
with ``--strict_json``; against a real agent over HTTP."""

from __future__ import annotations

from typing import Any

from dockyard.messages.unknown import MAX_REPORTED

from .calls import launch
from .conftest import RunningAgent

TYPO = "call.launch_task.task.resorces: unknown field (did you mean 'resources'?)"
SECRET = "s3cret-value-never-logged"


def misspelled_launch(task_id: str) -> dict[str, Any]:
    call = launch(task_id, "true", resorces=[{"name": "cpus", "type": "SCALAR"}])
    call["launch_task"]["task"]["command"]["environment"] = {
        "variables": [{"name": "PASSWORD", "type": "VALUE", "value": SECRET, "vaule": SECRET}]
    }
    return call


VARIABLE_TYPO = (
    "call.launch_task.task.command.environment.variables[0].vaule: "
    "unknown field (did you mean 'value'?)"
)


async def test_a_call_without_unknown_keys_gets_mesos_s_empty_202(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    response = await agent.call(launch("plain", "true"))
    assert response.status == 202
    assert await response.read() == b""
    assert "Warning" not in response.headers


async def test_unknown_keys_are_warned_about_in_the_response_and_the_log(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    response = await agent.call(misspelled_launch("typo"))
    assert response.status == 202
    assert await response.json() == {"warnings": [TYPO, VARIABLE_TYPO]}
    assert response.headers["Warning"] == '299 dockyard "2 unknown fields ignored"'
    task = await agent.wait_for_state("typo", "TASK_FINISHED")
    assert "resources" not in task  # accepted, and ignored as Mesos does
    assert agent.log is not None
    logged = [line for line in agent.log.read_text().splitlines() if "unknown field" in line]
    assert len(logged) == 1
    assert TYPO in logged[0]
    assert VARIABLE_TYPO in logged[0]
    assert "LAUNCH_TASK" in logged[0]
    assert SECRET not in agent.log.read_text()


async def test_an_answer_with_a_body_keeps_it_and_adds_the_warnings(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    response = await agent.call({"type": "GET_HEALTH", "kill_tsk": {}})
    assert response.status == 200
    assert await response.json() == {
        "type": "GET_HEALTH",
        "get_health": {"healthy": True},
        "warnings": ["call.kill_tsk: unknown field (did you mean 'kill_task'?)"],
    }


async def test_strict_json_refuses_unknown_keys_naming_each(make_agent) -> None:
    agent: RunningAgent = await make_agent("--containerizers=sample", "--strict_json")
    response = await agent.call(misspelled_launch("strict"))
    assert response.status == 400
    text = await response.text()
    assert TYPO in text
    assert VARIABLE_TYPO in text
    assert SECRET not in text
    assert "strict" not in await agent.tasks()
    response = await agent.call(launch("strict", "true"))
    assert response.status == 202
    assert await response.read() == b""


async def test_a_refused_call_names_its_unknown_keys_too(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    call = launch("refused", "true")
    call["launch_task"]["task"]["task_id"] = {"valeu": "refused"}
    response = await agent.call(call)
    assert response.status == 400
    assert await response.text() == (
        "call.launch_task.task.task_id.value: missing required field; "
        "call.launch_task.task.task_id.valeu: unknown field (did you mean 'value'?)"
    )


async def test_a_flood_of_unknown_keys_is_summarised(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    many = 100_000
    response = await agent.call(launch("flood", "true", **{f"x{i}": 0 for i in range(many)}))
    assert response.status == 202
    warnings = (await response.json())["warnings"]
    assert len(warnings) == MAX_REPORTED + 1
    assert warnings[-1] == f"... and {many - MAX_REPORTED} more unknown fields"
    assert response.headers["Warning"] == f'299 dockyard "{many} unknown fields ignored"'
    assert agent.log is not None
    (logged,) = [line for line in agent.log.read_text().splitlines() if "unknown field" in line]
    assert len(logged) < 2_000
    await agent.wait_for_state("flood", "TASK_FINISHED")
