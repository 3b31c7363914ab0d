"""The narrowest permissions that work (issue 13): a task running as ``nobody`` owns its
sandbox and everything the agent puts in it, and can change nothing above it nor read the
agent's state, even when the agent was started with a umask of 0.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import RunningAgent, needs_root

pytestmark = [pytest.mark.root, needs_root]

ATTEMPTS = {
    "own sandbox": "touch mine",
    "own stdout": "echo appended >> stdout",
    "own fetched file": "echo changed >> fetched.txt",
    "runs/": "touch ../intruder",
    "runs/latest": "ln -sfn / ../latest",
    "runs/latest rename": "mv ../latest ../moved",
    "executors/<id>/": "touch ../../intruder",
    "executors/": "touch ../../../intruder",
    "frameworks/<id>/": "touch ../../../../intruder",
    "frameworks/": "touch ../../../../../intruder",
    "slaves/<id>/": "touch ../../../../../../intruder",
    "slaves/": "touch ../../../../../../../intruder",
    "meta/ listing": "ls {work_dir}/meta",
    "meta/agent_id": "cat {work_dir}/meta/agent_id",
    "meta/plugins/": "ls {work_dir}/meta/plugins",
    "meta/ledger.sqlite": "cat {work_dir}/meta/ledger.sqlite",
}
ALLOWED = {"own sandbox", "own stdout", "own fetched file"}


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def attempts_script(work_dir: Path) -> str:
    lines = [
        f"if ( {command.format(work_dir=work_dir)} ) >/dev/null 2>&1; "
        f'then echo "{name}: allowed"; else echo "{name}: denied"; fi >> report'
        for name, command in ATTEMPTS.items()
    ]
    return "\n".join(lines)


def launch_as_nobody(task_id: str, script: str, uri: str) -> dict[str, Any]:
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": script, "user": "nobody", "uris": [{"value": uri}]},
    }
    return {"type": "LAUNCH_TASK", "launch_task": {"task": task}}


async def test_a_task_owns_its_sandbox_and_nothing_above_it(make_agent, public_dir):
    work_dir = public_dir / "work"
    origin = public_dir / "fetched.txt"
    origin.write_text("fetched\n")
    origin.chmod(0o644)
    with umask(0):  # the agent must not depend on its umask
        agent: RunningAgent = await make_agent("--containerizers=mesos", work_dir=work_dir)
    response = await agent.call(
        launch_as_nobody("nosy", attempts_script(work_dir), f"file://{origin}")
    )
    assert response.status == 202, await response.text()
    task = await agent.wait_for_state("nosy", "TASK_FINISHED", "TASK_FAILED")
    assert task["state"] == "TASK_FINISHED"

    runs = next(work_dir.glob("slaves/*/frameworks/*/executors/nosy/runs"))
    (sandbox,) = [run for run in runs.iterdir() if run.is_dir() and not run.is_symlink()]
    latest = runs / "latest"
    report = dict(line.split(": ") for line in (sandbox / "report").read_text().splitlines())
    assert report == {name: "allowed" if name in ALLOWED else "denied" for name in ATTEMPTS}

    nobody = pwd.getpwnam("nobody").pw_uid
    for name in ("stdout", "stderr", "fetched.txt", "mine"):
        assert (sandbox / name).stat().st_uid == nobody, name
    assert mode(sandbox) == 0o755
    assert sandbox.stat().st_uid == nobody
    for directory in sandbox.parents:
        if directory == work_dir.parent:
            break
        assert directory.stat().st_uid == 0, directory
        assert mode(directory) == 0o755, directory
    assert latest.resolve() == sandbox
    assert latest.lstat().st_uid == 0
    meta = work_dir / "meta"
    assert mode(meta) == 0o700
    assert mode(meta / "agent_id") == 0o644
    ledger = list(meta.glob("ledger.sqlite*"))
    assert ledger
    assert {mode(path) for path in ledger} == {0o600}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)
