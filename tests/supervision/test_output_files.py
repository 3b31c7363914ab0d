"""A task's output files are created where they are new and reused where they exist, in
the sandbox alone: a link planted in their place is refused, never followed (with the
kernel's openat2 and with the fallback walk)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dockyard import beneath
from dockyard.supervision.output import TaskOutput
from dockyard.supervision.protocol import OutputSpec, SpawnSpec

RESOLVERS = [pytest.param(False, id="walk")]
if beneath.OPENAT2:
    RESOLVERS.append(pytest.param(True, id="openat2"))


@pytest.fixture(params=RESOLVERS, autouse=True)
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beneath, "OPENAT2", request.param)


def spec(sandbox: Path) -> SpawnSpec:
    return SpawnSpec(
        id="task",
        executable="true",
        argv=["true"],
        env={},
        cwd=str(sandbox),
        stdout=OutputSpec(path=str(sandbox / "stdout")),
        stderr=OutputSpec(path=str(sandbox / "stderr")),
    )


def write_both(sandbox: Path) -> None:
    output = TaskOutput.open(spec(sandbox))
    try:
        with output.for_task() as (out, err):
            os.write(out, b"out\n")
            os.write(err, b"err\n")
    finally:
        output.close()


def test_new_files_are_created_and_existing_ones_appended_to(sandbox: Path) -> None:
    write_both(sandbox)
    (sandbox / "stdout").write_text("kept\n")
    write_both(sandbox)
    assert (sandbox / "stdout").read_text() == "kept\nout\n"
    assert (sandbox / "stderr").read_text() == "err\nerr\n"


@pytest.mark.parametrize("target_exists", [True, False], ids=["to-a-file", "dangling"])
def test_a_link_planted_where_stdout_goes_is_refused(
    sandbox: Path, tmp_path: Path, target_exists: bool
) -> None:
    outside = tmp_path / "outside"
    if target_exists:
        outside.write_text("secret\n")
    (sandbox / "stdout").symlink_to(outside)
    with pytest.raises(beneath.Refused, match="is a symbolic link"):
        write_both(sandbox)
    if target_exists:
        assert outside.read_text() == "secret\n"
    else:
        assert not outside.exists()
    assert (sandbox / "stdout").is_symlink()
