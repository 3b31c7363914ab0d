"""The supervisor's JSON (wire lines, record log lines) is orjson's where it can be and
the standard library's where orjson refuses; either side reads what the other wrote."""

from __future__ import annotations

import json
import zlib

import pytest
from dockyard.supervision.protocol import ProcessRecord, decode, encode
from dockyard.supervision.record_lines import decode as decode_record_line
from dockyard.supervision.record_lines import record_line

MESSAGES = [
    {"op": "spawn", "spec": {"env": {"SECRET": "b\udcffytes"}, "cwd": "/s\udc80ndbox"}},
    {"id": "tâche-été", "start_time": 1764290380.1234567, "status": None},
    {"memory_peak": 2**70},
]


@pytest.mark.parametrize("message", MESSAGES)
def test_a_line_decodes_to_what_was_encoded(message: dict[str, object]) -> None:
    line = encode(message)
    assert line.index(b"\n") == len(line) - 1
    assert decode(line) == message
    assert json.loads(line) == message  # plain JSON for any reader


@pytest.mark.parametrize("message", MESSAGES)
def test_lines_of_the_standard_library_still_decode(message: dict[str, object]) -> None:
    assert decode(json.dumps(message).encode() + b"\n") == message


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b"{bad\n", "property name"), (b"\xff\n", "can.t decode"), (b"[1]\n", "object")],
)
def test_bad_lines_are_value_errors_saying_why(line: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode(line)


def test_record_lines_of_either_encoder_replay() -> None:
    record = ProcessRecord(id="tâche\udcff", pid=42, start_time=1764290380.12, cgroups=["/x"])
    assert decode_record_line(record_line("spawn", record).rstrip(b"\n")) == (record.id, record)
    body = json.dumps({"kind": "spawn", "task": record.to_json()}).encode()
    old_line = b"%08x %s" % (zlib.crc32(body), body)
    assert decode_record_line(old_line) == (record.id, record)
