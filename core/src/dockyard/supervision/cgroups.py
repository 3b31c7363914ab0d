"""Linux control groups, v1 and v2: Mesos's ``cgroups/cpu`` and ``cgroups/mem`` isolators,
and the ``linux`` launcher, which tracks every process of a task in a cgroup.

Each task gets ``<hierarchy>/dockyard/<agent id>/<container id>`` in every hierarchy it
needs, like Mesos's ``--cgroups_root=mesos``; with no isolator wanting one, the ``freezer``
hierarchy (v1) or a plain v2 cgroup, only to find and kill its processes. The plugin
creates the cgroups and writes the limits (Mesos's formulas); the supervisor puts the task
in them before exec, and kills, inspects and removes them when the task ends. Functions
taking plain directories are the supervisor's: they work the same for v1 and v2 by looking
at which files exist.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import signal
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.supervision import proc_files

MIB = 1024 * 1024
CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
CPU_CFS_PERIOD_US = 100_000
MIN_CPU_CFS_QUOTA_US = 1_000
MIN_MEMORY = 32 * MIB
CGROUPS_ROOT = "dockyard"

CPU_CONTROLLERS = ("cpu", "cpuacct")
MEMORY_CONTROLLERS = ("memory",)
TRACKING_CONTROLLERS = ("freezer",)
"""What the ``linux`` launcher needs when no isolator wants a cgroup: any hierarchy tracks
processes; v1's freezer is the one Mesos's launcher uses."""
V2_CONTROLLER: dict[str, str | None] = {
    "cpu": "cpu",
    "cpuacct": "cpu",
    "memory": "memory",
    "freezer": None,
}
"""v2 has no ``cpuacct`` (its statistics live in the ``cpu`` controller's files) and needs
no controller to hold processes (``freezer`` is built in: ``cgroup.freeze``)."""

KILL_ROUNDS = 20
"""How often to sweep a v1 cgroup's pids while its processes keep forking."""


class CgroupError(OSError):
    """A cgroup could not be created or configured."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What to write into a task's cgroups; None leaves the kernel's default (unlimited)."""

    cpu_shares: int | None = None
    cpu_quota_us: int | None = None
    memory_limit: int | None = None
    memory_soft_limit: int | None = None


def compute_limits(
    *,
    cpus: float | None,
    mem_mb: float | None,
    cpus_limit: float | None,
    mem_limit_mb: float | None,
    enable_cfs: bool = False,
) -> Limits:
    """Mesos's formulas (``mesos-behaviour.md`` §3.5 "Computed options" and §3.8); with
    ``--cgroups_enable_cfs`` a task without a cpus limit gets a quota of its request."""
    shares = None if cpus is None else max(math.floor(CPU_SHARES_PER_CPU * cpus), MIN_CPU_SHARES)
    if cpus_limit is None and enable_cfs:
        cpus_limit = cpus
    quota = None
    if cpus_limit is not None and math.isfinite(cpus_limit):
        quota = max(math.floor(CPU_CFS_PERIOD_US * cpus_limit), MIN_CPU_CFS_QUOTA_US)
    soft = None if mem_mb is None else max(math.floor(mem_mb * MIB), MIN_MEMORY)
    hard = soft
    if mem_limit_mb is not None:
        finite = math.isfinite(mem_limit_mb)
        hard = max(math.floor(mem_limit_mb * MIB), MIN_MEMORY) if finite else None
    return Limits(cpu_shares=shares, cpu_quota_us=quota, memory_limit=hard, memory_soft_limit=soft)


def shares_to_weight(shares: int) -> int:
    """v1 ``cpu.shares`` [2, 262144] to v2 ``cpu.weight`` [1, 10000] (the systemd mapping)."""
    return 1 + ((min(shares, 262_144) - MIN_CPU_SHARES) * 9_999) // 262_142


@dataclass(frozen=True)
class Hierarchy:
    """Where each wanted controller is mounted; v2 mounts every controller in one place."""

    version: int
    mounts: dict[str, Path]

    def at(self, relative: Path) -> TaskCgroups:
        """A task's cgroups at ``relative`` in each hierarchy, whether they exist or not."""
        dirs = {name: mount / relative for name, mount in self.mounts.items()}
        return TaskCgroups(version=self.version, dirs=dirs)

    def create(self, relative: Path, limits: Limits) -> TaskCgroups:
        """Create the task's cgroups and write ``limits``; undone by :func:`remove`."""
        cgroups = self.at(relative)
        try:
            if self.version == 2:
                self._enable_controllers(relative)
            for directory in set(cgroups.dirs.values()):
                directory.mkdir(parents=True, exist_ok=True)
            cgroups.write_limits(limits)
        except OSError as error:
            remove(cgroups.paths())
            raise CgroupError(f"Failed to set up cgroup {relative}: {error.strerror}") from error
        return cgroups

    def _enable_controllers(self, relative: Path) -> None:
        """v2 only distributes a controller to a child whose parents all enable it."""
        mount = next(iter(self.mounts.values()))
        wanted = " ".join(sorted({f"+{c}" for name in self.mounts if (c := V2_CONTROLLER[name])}))
        if not wanted:
            return
        directory = mount
        for part in relative.parts[:-1]:
            (directory / "cgroup.subtree_control").write_text(wanted)
            directory = directory / part
            directory.mkdir(exist_ok=True)
        (directory / "cgroup.subtree_control").write_text(wanted)


@dataclass(frozen=True)
class _Mount:
    point: Path
    root: str
    version: int
    options: frozenset[str]


def _mounts(mountinfo: Path) -> list[_Mount]:
    """The cgroup file systems in ``/proc/self/mountinfo``, v1 ones with their controllers."""
    mounts = []
    for line in mountinfo.read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        fstype, _source, options = [*tail.split(" "), "", ""][:3]
        if fstype in ("cgroup", "cgroup2"):
            _id, _parent, _device, root, point = fields.split(" ")[:5]
            version = 1 if fstype == "cgroup" else 2
            mount = _Mount(Path(_unescape(point)), root, version, frozenset(options.split(",")))
            mounts.append(mount)
    return mounts


def find_hierarchy(
    controllers: Collection[str], mountinfo: Path = Path("/proc/self/mountinfo")
) -> Hierarchy | None:
    """The mounted hierarchy that has all ``controllers`` (v1 names), v1 first; None if none."""
    mounts = _mounts(mountinfo)
    v1: dict[str, Path] = {}
    for mount in mounts:
        if mount.version == 1:
            v1.update((option, mount.point) for option in mount.options if option not in v1)
    if all(name in v1 for name in controllers):
        return Hierarchy(1, {name: v1[name] for name in controllers})
    for mount in mounts:
        if mount.version == 2:
            available = (mount.point / "cgroup.controllers").read_text().split()
            if all(V2_CONTROLLER[name] in (None, *available) for name in controllers):
                return Hierarchy(2, {name: mount.point for name in controllers})
    return None


def own_cgroups(
    mountinfo: Path = Path("/proc/self/mountinfo"), membership: Path = Path("/proc/self/cgroup")
) -> dict[str, str]:
    """Each mounted hierarchy's directory of the calling process (or of the process whose
    ``/proc/<pid>/cgroup`` is ``membership``): mount point -> directory."""
    owned = {}
    for line in membership.read_text().splitlines():
        _id, names, path = line.split(":", 2)
        wanted = set(names.split(",")) - {""}
        for mount in _mounts(mountinfo):
            if (mount.version == 1 and wanted and wanted <= mount.options) or (
                mount.version == 2 and not wanted
            ):
                relative = os.path.relpath(path, mount.root)
                owned[str(mount.point)] = os.path.normpath(mount.point / relative)
    return owned


def of_process(pid: int) -> set[str]:
    """The cgroup directories of process ``pid`` (none if it is gone)."""
    try:
        return set(own_cgroups(membership=Path(f"/proc/{pid}/cgroup")).values())
    except (FileNotFoundError, ProcessLookupError):
        return set()


def home_of(directory: str, owned: dict[str, str]) -> str:
    """The cgroup, from :func:`own_cgroups`, of the hierarchy that holds ``directory``."""
    mount = max((m for m in owned if directory.startswith(m + "/")), key=len)
    return owned[mount]


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


@dataclass(frozen=True)
class Throttling:
    """CFS statistics of a cgroup under a CPU quota (``cpu.stat``)."""

    periods: int
    throttled_periods: int
    throttled_seconds: float


@dataclass(frozen=True)
class Usage:
    cpu_times: tuple[float, float] | None
    """User and system seconds."""
    rss_bytes: int | None
    throttling: Throttling | None = None


@dataclass(frozen=True, kw_only=True)
class TaskCgroups:
    """One task's cgroup directory per controller (the same directory for every v2 one)."""

    version: int
    dirs: dict[str, Path]

    def paths(self) -> list[str]:
        return sorted({str(directory) for directory in self.dirs.values()})

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "dirs": {k: str(v) for k, v in self.dirs.items()}}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TaskCgroups:
        dirs = data["dirs"]
        assert isinstance(dirs, dict)
        return cls(version=int(str(data["version"])), dirs={k: Path(v) for k, v in dirs.items()})

    def write_limits(self, limits: Limits) -> None:
        cpu, memory = self.dirs.get("cpu"), self.dirs.get("memory")
        if cpu is not None and self.version == 1:
            _write(cpu, "cpu.shares", limits.cpu_shares)
            if limits.cpu_quota_us is not None:
                _write(cpu, "cpu.cfs_period_us", CPU_CFS_PERIOD_US)
                _write(cpu, "cpu.cfs_quota_us", limits.cpu_quota_us)
        elif cpu is not None:
            if limits.cpu_shares is not None:
                _write(cpu, "cpu.weight", shares_to_weight(limits.cpu_shares))
            if limits.cpu_quota_us is not None:
                _write(cpu, "cpu.max", f"{limits.cpu_quota_us} {CPU_CFS_PERIOD_US}")
        if memory is not None and self.version == 1:
            _write(memory, "memory.soft_limit_in_bytes", limits.memory_soft_limit)
            _write(memory, "memory.limit_in_bytes", limits.memory_limit)
        elif memory is not None:
            _write(memory, "memory.low", limits.memory_soft_limit)
            _write(memory, "memory.max", limits.memory_limit)
            with contextlib.suppress(OSError):  # kernels before 4.19 lack it
                _write(memory, "memory.oom.group", 1)  # an OOM kill takes the whole task

    def usage(self) -> Usage:
        """What the cgroups measure of everything in them (None for what they do not)."""
        memory = self.dirs.get("memory")
        cpu_times = rss = None
        throttling = self._throttling()
        if self.version == 1:
            cpuacct = self.dirs.get("cpuacct")
            if cpuacct is not None:
                ticks, hertz = _read_stat(cpuacct / "cpuacct.stat"), os.sysconf("SC_CLK_TCK")
                cpu_times = (ticks["user"] / hertz, ticks["system"] / hertz)
            if memory is not None:
                rss = _read_stat(memory / "memory.stat")["total_rss"]
        else:  # every v2 cgroup has cpu.stat, with or without the cpu controller
            micros = _read_stat(next(iter(self.dirs.values())) / "cpu.stat")
            cpu_times = (micros["user_usec"] / 1e6, micros["system_usec"] / 1e6)
            if memory is not None:
                rss = _read_stat(memory / "memory.stat")["anon"]
        return Usage(cpu_times=cpu_times, rss_bytes=rss, throttling=throttling)

    def _throttling(self) -> Throttling | None:
        """The quota's statistics, once the kernel has counted a period under it."""
        cpu = self.dirs.get("cpu")
        if cpu is None:
            return None
        stat = _read_stat(cpu / "cpu.stat")
        if not stat.get("nr_periods"):
            return None
        throttled = (
            stat["throttled_usec"] / 1e6 if self.version == 2 else stat["throttled_time"] / 1e9
        )
        return Throttling(stat["nr_periods"], stat["nr_throttled"], throttled)


def _write(directory: Path, name: str, value: object) -> None:
    if value is not None:
        (directory / name).write_text(str(value))


def _read_stat(path: Path) -> dict[str, int]:
    pairs = (line.split() for line in path.read_text().splitlines())
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2}


def join(directory: str) -> None:
    """Move the calling process into the cgroup ``directory``."""
    proc_files.write(os.path.join(directory, "cgroup.procs"), b"0")


def open_procs(directory: str) -> int:
    """The cgroup's ``cgroup.procs``, open for moving processes into it."""
    return os.open(os.path.join(directory, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)


@dataclass(frozen=True)
class _ControlFiles:
    """Which optional control files a task's cgroup has."""

    version: int
    kill: bool
    """``cgroup.kill`` (v2, Linux 5.14+)."""
    memory_v1: bool
    """``memory.oom_control``: the directory is in a v1 memory hierarchy."""


_CONTROL_FILES: dict[str, _ControlFiles] = {}
"""By parent directory: a task's cgroup has the files its siblings have, so the supervisor
looks once per parent rather than at every task."""


def _control_files(directory: str) -> _ControlFiles | None:
    """What ``directory`` has, None if it is gone."""
    parent = os.path.dirname(directory)
    found = _CONTROL_FILES.get(parent)
    if found is None:
        try:
            names = set(os.listdir(directory))
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENODEV, errno.ENOTDIR):
                return None
            raise
        version = 1 if "tasks" in names else 2
        found = _ControlFiles(version, "cgroup.kill" in names, "memory.oom_control" in names)
        _CONTROL_FILES[parent] = found
    return found


def kill_at_once(directories: Iterable[str]) -> None:
    """SIGKILL every process in the cgroups where the kernel can in one write
    (``cgroup.kill``); elsewhere do nothing, for a caller that kills what it lists next."""
    for directory in directories:
        with _unless_gone():
            files = _control_files(directory)
            if files is not None and files.kill:
                proc_files.write(os.path.join(directory, "cgroup.kill"), b"1")


def kill_all(directories: Iterable[str]) -> None:
    """SIGKILL every process in the cgroups, including ones that left the task's group."""
    for directory in directories:
        with _unless_gone():
            files = _control_files(directory)
            if files is None:
                continue
            if files.kill:
                proc_files.write(os.path.join(directory, "cgroup.kill"), b"1")
                continue
            for _ in range(KILL_ROUNDS):
                pids = _pids(directory)
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


def _pids(directory: str) -> list[int]:
    with _unless_gone():
        return [
            int(pid) for pid in proc_files.read(os.path.join(directory, "cgroup.procs")).split()
        ]
    return []


@contextlib.contextmanager
def _unless_gone() -> Iterator[None]:
    """A cgroup removed meanwhile (ENOENT, or ENODEV while it dies) holds nothing."""
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOENT, errno.ENODEV):
            raise


def pids(directories: Iterable[str]) -> set[int]:
    """The processes in the cgroups."""
    return {pid for directory in directories for pid in _pids(directory)}


def remove(directories: Iterable[str]) -> bool:
    """Remove empty task cgroups; False while some still hold (dying) processes."""
    removed = True
    for directory in directories:
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            pass
        except OSError:
            removed = False
    return removed


def remove_with_parents(directories: Iterable[str], keep: Collection[str]) -> None:
    """Remove empty cgroups and then their parents while empty, stopping at ``keep``'s
    members, their ancestors and each hierarchy's top level (``dockyard``, shared by agents
    that may be creating their cgroups below it right now)."""
    mounts = [str(mount.point) for mount in mounts_of()]
    for directory in directories:
        path = Path(directory)
        mount = max((m for m in mounts if directory.startswith(m + "/")), key=len, default=None)
        while mount is not None and len(path.relative_to(mount).parts) > 1:
            if any(str(path) == k or k.startswith(f"{path}/") for k in keep):
                break
            if not remove([str(path)]):
                break
            path = path.parent


def mounts_of(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[_Mount]:
    """The cgroup file systems mounted (v1 and v2)."""
    return _mounts(mountinfo)


def oom_notifier(directories: Iterable[str]) -> int | None:
    """v1: an eventfd the kernel signals when it OOM-kills in the task's memory cgroup.

    (v2 needs none: ``memory.oom.group`` makes the kernel kill the whole cgroup at once.)
    """
    for directory in directories:
        files = _control_files(directory)
        if files is None or not files.memory_v1:
            continue
        control = os.path.join(directory, "memory.oom_control")
        notifier = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        watched = os.open(control, os.O_RDONLY | os.O_CLOEXEC)
        try:
            events = os.path.join(directory, "cgroup.event_control")
            proc_files.write(events, f"{notifier} {watched}".encode())
        except OSError:
            os.close(notifier)
            raise
        finally:
            os.close(watched)
        return notifier
    return None


def memory_outcome(directories: Iterable[str]) -> tuple[bool, int | None]:
    """Whether the kernel OOM-killed a process of the task, and the peak memory use."""
    for directory in directories:
        path, files = Path(directory), _control_files(directory)
        if files is None:
            continue
        if files.memory_v1:
            with _unless_gone():
                oom = _read_stat(path / "memory.oom_control").get("oom_kill", 0) > 0
                return oom, _read_int(path / "memory.max_usage_in_bytes")
            continue
        # v2 shows them only while the parent enables the memory controller, which an
        # agent restarted with other isolators may change: looked for every time
        if files.version == 2 and (path / "memory.events").exists():
            oom = _read_stat(path / "memory.events").get("oom_kill", 0) > 0
            return oom, _read_int(path / "memory.peak")
    return False, None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None
