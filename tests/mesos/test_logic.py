"""Pure logic: Mesos's cgroup formulas, hierarchy discovery, the flag, exit messages."""

from __future__ import annotations

import math
import signal
from pathlib import Path

import pytest
from dockyard.flags import FlagError
from dockyard.supervision import cgroups
from dockyard.supervision.cgroups import MIB, Limits, compute_limits, find_hierarchy
from dockyard.supervision.protocol import ExitInfo, ProcessRecord, decode, encode
from dockyard_mesos import isolation
from dockyard_mesos.termination import describe

from tests.mesos.harness import make_context


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            {"cpus": 0.5, "mem_mb": 64, "cpus_limit": None, "mem_limit_mb": None},
            Limits(cpu_shares=512, memory_limit=64 * MIB, memory_soft_limit=64 * MIB),
        ),
        (
            {"cpus": 0.001, "mem_mb": 1, "cpus_limit": 0.001, "mem_limit_mb": 2},
            Limits(
                cpu_shares=2,
                cpu_quota_us=1_000,
                memory_limit=32 * MIB,
                memory_soft_limit=32 * MIB,
            ),
        ),
        (
            {"cpus": 1, "mem_mb": 64, "cpus_limit": math.inf, "mem_limit_mb": math.inf},
            Limits(cpu_shares=1024, memory_soft_limit=64 * MIB),
        ),
        (
            {"cpus": 2, "mem_mb": None, "cpus_limit": 2.5, "mem_limit_mb": 100},
            Limits(cpu_shares=2048, cpu_quota_us=250_000, memory_limit=100 * MIB),
        ),
        ({"cpus": None, "mem_mb": None, "cpus_limit": None, "mem_limit_mb": None}, Limits()),
    ],
)
def test_compute_limits_follows_mesos(request_, expected):
    assert compute_limits(**request_) == expected


@pytest.mark.parametrize(
    ("cpus", "cpus_limit", "quota"),
    [
        (0.5, None, 50_000),  # the request, over a 100 ms period
        (0.001, None, 1_000),  # Mesos's minimum quota: 1 ms
        (2, 0.5, 50_000),  # a limit wins over the request
        (2, math.inf, None),  # an infinite limit: no quota
        (None, None, None),  # no cpus at all
    ],
)
def test_cfs_gives_a_quota_from_the_cpus_request(cpus, cpus_limit, quota):
    limits = compute_limits(
        cpus=cpus, mem_mb=None, cpus_limit=cpus_limit, mem_limit_mb=None, enable_cfs=True
    )
    assert limits.cpu_quota_us == quota


def test_shares_map_onto_the_v2_weight_range():
    assert cgroups.shares_to_weight(2) == 1
    assert cgroups.shares_to_weight(1024) == 39
    assert cgroups.shares_to_weight(262_144) == 10_000


def mountinfo(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


V1_LINES = (
    "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct",
    "31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory",
    "32 25 0:28 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw",
)


def test_v1_hierarchies_are_found_per_controller(tmp_path):
    hierarchy = find_hierarchy(("cpu", "cpuacct", "memory"), mountinfo(tmp_path, *V1_LINES))
    assert hierarchy is not None
    assert hierarchy.version == 1
    assert hierarchy.mounts == {
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory"),
    }


def test_v2_is_used_when_its_root_offers_the_controllers(tmp_path):
    unified = tmp_path / "cgroup"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    line = f"40 25 0:30 / {unified} rw - cgroup2 cgroup2 rw,nsdelegate"
    hierarchy = find_hierarchy(("cpu", "cpuacct", "memory"), mountinfo(tmp_path, line))
    assert hierarchy is not None
    assert hierarchy.version == 2
    assert set(hierarchy.mounts.values()) == {unified}


def test_no_hierarchy_when_a_controller_is_missing(tmp_path):
    assert find_hierarchy(("memory", "pids"), mountinfo(tmp_path, *V1_LINES[:1])) is None


def test_v2_cgroup_creation_enables_controllers_down_the_path(tmp_path):
    hierarchy = cgroups.Hierarchy(2, {"cpu": tmp_path, "cpuacct": tmp_path, "memory": tmp_path})
    limits = compute_limits(cpus=1, mem_mb=64, cpus_limit=0.5, mem_limit_mb=None)
    task = hierarchy.create(Path("dockyard/agent/task"), limits)
    assert task.paths() == [str(tmp_path / "dockyard/agent/task")]
    for directory in (tmp_path, tmp_path / "dockyard", tmp_path / "dockyard/agent"):
        assert (directory / "cgroup.subtree_control").read_text() == "+cpu +memory"
    leaf = tmp_path / "dockyard/agent/task"
    assert (leaf / "cpu.weight").read_text() == "39"
    assert (leaf / "cpu.max").read_text() == "50000 100000"
    assert (leaf / "memory.max").read_text() == str(64 * MIB)
    assert (leaf / "memory.low").read_text() == str(64 * MIB)
    assert (leaf / "memory.oom.group").read_text() == "1"


def test_the_launcher_tracks_in_a_freezer_cgroup_only_when_no_isolator_wants_one():
    posix, limited = isolation.parse("posix/cpu,posix/mem", ""), isolation.parse("cgroups/mem", "")
    assert posix.task_controllers(None) == posix.task_controllers("linux") == ("freezer",)
    assert posix.task_controllers("posix") == ()
    assert limited.task_controllers("posix") == limited.task_controllers(None) == ("memory",)


def test_a_v2_tracking_cgroup_needs_no_controller(tmp_path):
    unified = tmp_path / "cgroup"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("")
    line = f"40 25 0:30 / {unified} rw - cgroup2 cgroup2 rw"
    hierarchy = find_hierarchy(cgroups.TRACKING_CONTROLLERS, mountinfo(tmp_path, line))
    assert hierarchy == cgroups.Hierarchy(2, {"freezer": unified})
    task = hierarchy.create(Path("dockyard/agent/task"), Limits())
    assert task.paths() == [str(unified / "dockyard/agent/task")]
    assert not list(unified.rglob("cgroup.subtree_control"))


def test_isolation_flag_accepts_mesos_names():
    parsed = isolation.parse("cgroups/cpu,cgroups/mem", "--isolation")
    assert parsed.cgroup_controllers() == ("cpu", "cpuacct", "memory")
    assert isolation.parse(isolation.DEFAULT, "--isolation").cgroup_controllers() == ()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("cgroups/devices", "unsupported isolator 'cgroups/devices'"),
        ("posix/cpu,cgroups/cpu", "choose one of 'posix/cpu' and 'cgroups/cpu'"),
    ],
)
def test_isolation_flag_rejects_bad_values(tmp_path, value, reason):
    with pytest.raises(FlagError, match=reason):
        make_context(tmp_path, "agent", f"--isolation={value}")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (0, "Command exited with status 0"),
        (1 << 8, "Command exited with status 1"),
        (signal.SIGTERM, "Command terminated with signal Terminated"),
        (signal.SIGKILL | 0x80, "Command terminated with signal Killed"),  # with a core dump
    ],
)
def test_exit_messages(status, message):
    assert describe(status) == message


def test_records_round_trip_the_wire_format():
    record = ProcessRecord(
        id="a.b", pid=42, start_time=1.5, cgroups=["/x"], exit=ExitInfo(status=256, oom=True)
    )
    assert ProcessRecord.from_json(decode(encode(record.to_json()))) == record
    with pytest.raises(ValueError, match="JSON object"):
        decode(b"[1]\n")


def test_mount_points_are_unescaped(tmp_path):
    line = r"31 25 0:27 / /mnt/my\040cgroups rw - cgroup cgroup rw,memory"
    hierarchy = find_hierarchy(("memory",), mountinfo(tmp_path, line))
    assert hierarchy is not None
    assert hierarchy.mounts == {"memory": Path("/mnt/my cgroups")}


def test_own_cgroups_maps_each_mount_to_the_callers_cgroup(tmp_path):
    membership = tmp_path / "cgroup"
    membership.write_text("4:memory:/jobs/42\n2:cpu,cpuacct:/\n0::/init.scope\n")
    owned = cgroups.own_cgroups(mountinfo(tmp_path, *V1_LINES), membership)
    assert owned == {
        "/sys/fs/cgroup/cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/memory": "/sys/fs/cgroup/memory/jobs/42",
        "/sys/fs/cgroup/unified": "/sys/fs/cgroup/unified/init.scope",
    }
    task = "/sys/fs/cgroup/memory/dockyard/agent/task"
    assert cgroups.home_of(task, owned) == "/sys/fs/cgroup/memory/jobs/42"
