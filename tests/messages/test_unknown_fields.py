"""Unknown keys anywhere in a body are found by their JSON path, with a did-you-mean."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dockyard.messages import Call, MessageError, TaskInfo, dump
from dockyard.messages.unknown import (
    MAX_KEY_SHOWN,
    MAX_REPORTED,
    find_unknown_fields,
    load_checked,
)
from dockyard.validation import validate_task
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.messages.strategies import messages as messages_of
from tests.messages.test_roundtrip import MESSAGE_CLASSES


def a_task(**extra: Any) -> dict[str, Any]:
    return {"name": "t", "task_id": {"value": "t1"}, "command": {"value": "true"}, **extra}


def lines(cls: type[Any], data: Any, path: str = "task") -> list[str]:
    return find_unknown_fields(cls, data, path=path).lines()


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_what_the_schemas_write_has_no_unknown_key(cls: type[Any], data: st.DataObject) -> None:
    assert not find_unknown_fields(cls, dump(data.draw(messages_of(cls))))


def test_a_misspelled_top_level_field_gets_a_did_you_mean() -> None:
    assert lines(TaskInfo, a_task(resorces=[])) == [
        "task.resorces: unknown field (did you mean 'resources'?)"
    ]


def test_nested_paths_through_messages_lists_and_maps() -> None:
    task = a_task(
        command={
            "value": "true",
            "environment": {"variables": [{"name": "A", "type": "VALUE", "vaule": "x"}]},
        },
        container={"type": "DOCKER", "docker": {"imgae": "alpine"}},
        limits={"cpus": {"valeu": 1}},
    )
    assert lines(TaskInfo, task) == [
        "task.command.environment.variables[0].vaule: unknown field (did you mean 'value'?)",
        "task.container.docker.imgae: unknown field (did you mean 'image'?)",
        "task.limits.cpus.valeu: unknown field (did you mean 'value'?)",
    ]


def test_the_call_envelope_and_its_body() -> None:
    call = {"type": "LAUNCH_TASK", "launch_tsk": {}, "launch_task": {"task": a_task(nme="x")}}
    assert lines(Call, call, "call") == [
        "call.launch_tsk: unknown field (did you mean 'launch_task'?)",
        "call.launch_task.task.nme: unknown field (did you mean 'name'?)",
    ]


def test_v0_names_are_known_and_followed() -> None:
    assert lines(TaskInfo, a_task(slave_id={"value": "a", "vlue": "b"})) == [
        "task.slave_id.vlue: unknown field (did you mean 'value'?)"
    ]


def test_no_suggestion_when_nothing_is_close() -> None:
    assert lines(TaskInfo, a_task(zzzzzz=1)) == ["task.zzzzzz: unknown field"]


def test_values_are_never_shown() -> None:
    task = a_task(command={"value": "true", "secrets": "hunter2"}, passwrd="hunter2")
    assert "hunter2" not in json.dumps(lines(TaskInfo, task))


def test_odd_keys_stay_on_one_short_line() -> None:
    key = "bad\nkey\u2028" + "x" * 10_000
    (line,) = lines(TaskInfo, a_task(**{key: 1}))
    assert "\n" not in line
    assert "\u2028" not in line
    assert len(line) < MAX_KEY_SHOWN * 2
    assert line.startswith('task["bad\\nkey\\u2028xx')
    assert line.endswith('"...]: unknown field')


def test_wrongly_typed_values_are_left_to_load() -> None:
    assert not find_unknown_fields(TaskInfo, a_task(command=[1], resources={"a": 1}))
    assert not find_unknown_fields(TaskInfo, ["not", "an", "object"])


def test_many_unknown_keys_are_counted_but_only_the_first_described() -> None:
    found = find_unknown_fields(
        TaskInfo, a_task(**{f"k{i}": 1 for i in range(100_000)}), path="task"
    )
    assert found.total == 100_000
    assert found.lines()[:2] == ["task.k0: unknown field", "task.k1: unknown field"]
    assert found.lines()[-1] == f"... and {100_000 - MAX_REPORTED} more unknown fields"
    assert len(found.lines()) == MAX_REPORTED + 1
    assert len(str(found.as_error()).split("; ")) == MAX_REPORTED + 1


def test_strict_makes_unknown_keys_errors() -> None:
    data = a_task(resorces=[])
    task, unknown = load_checked(TaskInfo, data, path="task", check=validate_task, strict=False)
    assert task.resources == []
    assert unknown.total == 1
    with pytest.raises(MessageError) as raised:
        load_checked(TaskInfo, data, path="task", check=validate_task, strict=True)
    assert raised.value.errors == [("task.resorces", "unknown field (did you mean 'resources'?)")]


def test_a_refused_body_names_its_unknown_keys_after_its_problems() -> None:
    variable = {"name": "A", "type": "VALUE", "vaule": "x"}
    data = a_task(command={"value": "true", "environment": {"variables": [variable]}})
    with pytest.raises(MessageError) as raised:
        load_checked(TaskInfo, data, path="task", check=validate_task, strict=False)
    assert [path for path, _ in raised.value.errors] == [
        "task.command.environment.variables[0].value",
        "task.command.environment.variables[0].vaule",
    ]
