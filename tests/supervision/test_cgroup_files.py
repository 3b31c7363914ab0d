"""Which control files a task's cgroup has is learnt once per parent directory, except what
may change under a running supervisor (v2's memory files). Fake cgroup directories."""

from __future__ import annotations

from pathlib import Path

from dockyard.supervision import cgroups


def make(directory: Path, files: dict[str, str]) -> str:
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return str(directory)


def test_v1_memory_is_learnt_once_per_parent(tmp_path: Path) -> None:
    memory = {"tasks": "", "cgroup.procs": "", "memory.max_usage_in_bytes": "4096\n"}
    first = make(tmp_path / "memory" / "a", {**memory, "memory.oom_control": "oom_kill 1\n"})
    assert cgroups.memory_outcome([first]) == (True, 4096)
    freezer = make(tmp_path / "freezer" / "a", {"tasks": "", "cgroup.procs": ""})
    assert cgroups.memory_outcome([freezer]) == (False, None)
    assert cgroups.oom_notifier([freezer]) is None
    gone = str(tmp_path / "memory" / "never-made")  # a sibling: known to be v1 memory
    assert cgroups.memory_outcome([gone]) == (False, None)


def test_v2_memory_files_are_looked_for_every_time(tmp_path: Path) -> None:
    base = {"cgroup.procs": "", "cgroup.kill": ""}
    without = make(tmp_path / "v2" / "a", base)
    assert cgroups.memory_outcome([without]) == (False, None)
    memory = {"memory.events": "oom_kill 2\n", "memory.peak": "8192\n"}
    enabled = make(tmp_path / "v2" / "b", {**base, **memory})  # the controller enabled since
    assert cgroups.memory_outcome([enabled]) == (True, 8192)


def test_cgroup_kill_is_used_where_the_kernel_has_it(tmp_path: Path) -> None:
    first = make(tmp_path / "v2" / "a", {"cgroup.procs": "", "cgroup.kill": ""})
    cgroups.kill_all([first])
    assert Path(first, "cgroup.kill").read_text() == "1"
    sibling = make(tmp_path / "v2" / "b", {"cgroup.procs": "", "cgroup.kill": ""})
    cgroups.kill_all([sibling])
    assert Path(sibling, "cgroup.kill").read_text() == "1"
    cgroups.kill_all([str(tmp_path / "v2" / "gone")])  # removed meanwhile: nothing to kill


def test_a_kill_at_once_needs_cgroup_kill(tmp_path: Path) -> None:
    v2 = make(tmp_path / "v2" / "a", {"cgroup.procs": "", "cgroup.kill": ""})
    v1 = make(tmp_path / "v1" / "a", {"tasks": "", "cgroup.procs": ""})
    cgroups.kill_at_once([v2, v1, str(tmp_path / "v2" / "gone")])
    assert Path(v2, "cgroup.kill").read_text() == "1"
    assert sorted(p.name for p in Path(v1).iterdir()) == ["cgroup.procs", "tasks"]
