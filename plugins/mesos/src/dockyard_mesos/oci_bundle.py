"""The OCI runtime bundle (``config.json``) of a container that runs in an image.

Namespaces are Mesos's ``filesystem/linux`` ones plus pid, uts and ipc: the network stays
the host's (Mesos's default without ``network/cni``). The process gets Docker's default
capabilities without ``CAP_MKNOD`` (no device node beyond the minimal ``/dev`` the runtime
makes), the runtime's device cgroup rules (deny all but that ``/dev``) and Docker's masked
and read-only ``/proc`` paths. Cgroup limits are not here: the supervisor starts the
runtime inside the task's cgroups, already limited, and ``cgroupsPath`` names the same ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
"""Docker's default set, less CAP_MKNOD."""

MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
NAMESPACES = ("pid", "ipc", "uts", "mount")


@dataclass(frozen=True, kw_only=True)
class BindMount:
    source: str
    destination: str
    read_only: bool = False


@dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    argv: Sequence[str]
    env: Mapping[str, str] = field(repr=False)
    cwd: str
    uid: int
    gid: int
    additional_gids: Sequence[int] = ()


def config(
    *,
    process: ProcessSpec,
    hostname: str,
    binds: Sequence[BindMount],
    cgroups_path: str,
    rootfs: str = "rootfs",
) -> dict[str, Any]:
    """The bundle's ``config.json`` document."""
    capabilities = list(CAPABILITIES)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {
                "uid": process.uid,
                "gid": process.gid,
                "additionalGids": list(process.additional_gids),
            },
            "args": list(process.argv),
            "env": [f"{name}={value}" for name, value in process.env.items()],
            "cwd": process.cwd,
            "capabilities": {name: capabilities for name in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": hostname,
        "mounts": [*_system_mounts(), *(_bind(mount) for mount in binds)],
        "linux": {
            "namespaces": [{"type": name} for name in NAMESPACES],
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }


def _system_mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ]


def _bind(mount: BindMount) -> dict[str, Any]:
    options = ["rbind", "rprivate", "ro" if mount.read_only else "rw"]
    return {
        "destination": mount.destination,
        "type": "bind",
        "source": mount.source,
        "options": options,
    }
