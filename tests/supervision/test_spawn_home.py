"""What the supervisor lends itself out of for a spawn comes back, and each task gets
exactly its own identity, however the spawns follow each other (spawned from the test
process, as root)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockyard.supervision import cgroups
from dockyard.supervision.protocol import OutputSpec, SpawnSpec
from dockyard.supervision.spawn import Home, spawn

pytestmark = pytest.mark.root

NOBODY = 65534
REPORT = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; cat /proc/self/cgroup"


@pytest.fixture
def home() -> Iterator[Home]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    groups = os.getgroups()
    home = Home(cgroups.own_cgroups())
    try:
        yield home
    finally:
        home.close()
        os.setgroups(groups)


def run(
    home: Home,
    sandbox: Path,
    uid: int | None,
    gid: int | None,
    groups: list[int],
    task_cgroups: tuple[str, ...] = (),
) -> dict[str, str]:
    """Spawn the report as ``uid``; its /proc/self/status lines and its cgroups."""
    output = sandbox / f"out-{uuid.uuid4().hex}"
    spec = SpawnSpec(
        id="task",
        executable="/bin/sh",
        argv=["/bin/sh", "-c", REPORT],
        env={"PATH": "/bin:/usr/bin"},
        cwd=str(sandbox),
        stdout=OutputSpec(path=str(output)),
        stderr=OutputSpec(path=str(output)),
        uid=uid,
        gid=gid,
        groups=groups,
        cgroups=list(task_cgroups),
    )
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        pid = spawn(spec, home, fd, fd)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output.read_text()
    lines = output.read_text().splitlines()
    report = dict(line.split(":", 1) for line in lines[:3])
    return {key: " ".join(value.split()) for key, value in report.items()} | {
        "cgroups": "\n".join(lines[3:])
    }


def test_each_task_gets_its_own_ids_and_the_supervisor_gets_its_own_back(
    home: Home, sandbox: Path
) -> None:
    sandbox.chmod(0o777)
    own = " ".join(map(str, sorted(os.getgroups())))
    sequence: list[tuple[int | None, int | None, list[int], str]] = [
        (NOBODY, NOBODY, [NOBODY], f"{NOBODY}"),
        (None, None, [], own),
        (0, 0, [0], "0"),
        (0, 0, [0], "0"),  # the same again: nothing to switch
        (None, None, [], own),
        (NOBODY, None, [NOBODY, 0], f"0 {NOBODY}"),
        (0, 0, [], ""),
    ]
    for uid, gid, groups, expected_groups in sequence:
        report = run(home, sandbox, uid, gid, groups)
        task_uid, task_gid = uid if uid is not None else 0, gid if gid is not None else 0
        assert report["Uid"] == f"{task_uid} {task_uid} {task_uid} {task_uid}"
        assert report["Gid"] == f"{task_gid} {task_gid} {task_gid} {task_gid}"
        assert report["Groups"] == expected_groups, (uid, groups)
        assert os.getresuid() == (0, 0, 0)
        assert os.getresgid() == (0, 0, 0)


def test_the_supervisor_leaves_the_task_cgroup_after_the_spawn(home: Home, sandbox: Path) -> None:
    hierarchy = cgroups.find_hierarchy(cgroups.TRACKING_CONTROLLERS)
    if hierarchy is None:
        pytest.skip("no cgroup hierarchy to track tasks in")
    before = Path("/proc/self/cgroup").read_text()
    relative = Path("dockyard") / f"tests-{uuid.uuid4().hex}" / "task"
    task = hierarchy.create(relative, cgroups.Limits())
    try:
        for _ in range(2):  # the second comes back through the descriptor kept open
            report = run(home, sandbox, None, None, [], tuple(task.paths()))
            assert f"/{relative}\n" in report["cgroups"] + "\n"
            assert Path("/proc/self/cgroup").read_text() == before
    finally:
        cgroups.remove_with_parents(task.paths(), keep=())
