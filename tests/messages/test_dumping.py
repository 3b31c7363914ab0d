"""The derived dumper writes exactly what each message's marshmallow schema writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dockyard.messages import dump
from dockyard.messages.mapping import schema_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.messages.strategies import messages as messages_of
from tests.messages.test_roundtrip import MESSAGE_CLASSES


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_dump_is_what_the_schema_dumps(cls: type[Any], data: st.DataObject) -> None:
    message = data.draw(messages_of(cls))
    expected = schema_for(cls).dump(message)
    written = dump(message)
    assert written == expected
    assert json.dumps(written) == json.dumps(expected)  # the same keys in the same order
