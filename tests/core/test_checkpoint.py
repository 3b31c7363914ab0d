"""Checkpoints survive a SIGKILL in the middle of a write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dockyard.checkpoint import discard_partial_writes, read_json, write_json

WRITER = """
import sys
from pathlib import Path
from dockyard.checkpoint import write_json
path = Path(sys.argv[1])
n = 0
print("ready", flush=True)
while True:
    n += 1
    write_json(path, {"n": n, "payload": "x" * (n % 7) * 100_000})
"""


def test_a_killed_writer_leaves_the_previous_state_readable(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_json(path, {"n": 0, "payload": ""})
    seen = set()
    for attempt in range(15):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
            time.sleep(0.01 * (attempt % 5))
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
        state = read_json(path)
        assert set(state) == {"n", "payload"}
        assert len(state["payload"]) == (state["n"] % 7) * 100_000
        seen.add(state["n"])
    assert len(seen) > 1, "the writer never got to replace the file"


def test_leftover_temporary_files_are_discarded(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"a": 1})
    (tmp_path / ".a.json.abc.tmp").write_text("{half")
    discard_partial_writes(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert json.loads((tmp_path / "a.json").read_text()) == {"a": 1}


def test_checkpoints_are_private(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"a": 1})
    assert (tmp_path / "a.json").stat().st_mode & 0o077 == 0
