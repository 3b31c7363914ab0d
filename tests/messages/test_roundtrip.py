"""Every message survives dump then load, as a dict and as JSON text."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import dockyard.messages as messages
import pytest
from dockyard.messages import dump, dumps, load, loads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.messages.strategies import messages as messages_of

MESSAGE_CLASSES: list[type[Any]] = sorted(
    (
        obj
        for obj in vars(messages).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj)
    ),
    key=lambda cls: cls.__name__,
)
ROUNDTRIP = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
@ROUNDTRIP
@given(data=st.data())
def test_load_of_dump_is_identity(cls: type[Any], data: st.DataObject) -> None:
    """load(dump(x)) == x, and dumps output is strict JSON that loads back too."""
    message = data.draw(messages_of(cls))
    assert load(cls, dump(message)) == message
    text = dumps(message)
    json.loads(text, parse_constant=pytest.fail)  # no bare Infinity/NaN
    assert loads(cls, text) == message
