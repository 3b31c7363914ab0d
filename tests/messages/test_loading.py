"""The derived loader returns exactly what each message's marshmallow schema returns, takes
every plainly valid message itself, and leaves everything else to the schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dockyard.messages import MessageError, dump, load, loading
from dockyard.messages.mapping import schema_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from tests.messages.strategies import messages as messages_of
from tests.messages.test_roundtrip import MESSAGE_CLASSES

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

ODD_VALUES = st.sampled_from(
    [None, "", "x", "12", "-3", "1.5", "Infinity", "true", "TASK_RUNNING", "nope", 0, -1,
     2**64, 1.5, True, False, [], [None], ["x"], [1], {}, {"value": "x"}, {"x": None}]
)  # fmt: skip
"""What a client may put where a field's value goes: other JSON types, text holding
numbers and booleans, enum names known and not, nulls inside lists and maps."""


def json_of(message: object) -> Any:
    return json.loads(json.dumps(dump(message)))


def places(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON tree whose value could be replaced."""
    found: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            found += places(value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            found += places(value)
    return found


def schema_outcome(cls: type[Any], data: Any) -> tuple[bool, Any]:
    try:
        return True, schema_for(cls).load(data)
    except ValidationError as error:
        return False, error.messages


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
@SETTINGS
@given(data=st.data())
def test_a_valid_message_loads_fast_to_what_the_schema_loads(
    cls: type[Any], data: st.DataObject
) -> None:
    document = json_of(data.draw(messages_of(cls)))
    assert loading.load(cls, document) == schema_for(cls).load(document)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
@SETTINGS
@given(data=st.data())
def test_a_changed_message_loads_as_the_schema_says_or_is_left_to_it(
    cls: type[Any], data: st.DataObject
) -> None:
    document = json_of(data.draw(messages_of(cls)))
    spots = places(document)
    if spots:
        container, key = data.draw(st.sampled_from(spots))
        container[key] = data.draw(ODD_VALUES)
    else:
        document = data.draw(ODD_VALUES)
    loaded, expected = schema_outcome(cls, json.loads(json.dumps(document)))
    try:
        fast = loading.load(cls, document)
    except loading.Refused:
        pass  # the schema decides: what load() does next
    else:
        assert loaded, f"the fast path took input the schema refuses: {expected}"
        assert fast == expected
    if loaded:
        assert load(cls, document) == expected
    else:
        with pytest.raises(MessageError):
            load(cls, document)


def test_a_refused_launch_still_names_the_field() -> None:
    from dockyard.messages import Call

    body = {"type": "LAUNCH_TASK", "launch_task": {"task": {"name": "t", "task_id": {}}}}
    with pytest.raises(MessageError, match=r"call\.launch_task\.task\.task_id\.value"):
        load(Call, body, path="call")
