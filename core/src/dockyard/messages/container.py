"""Where to run: ``ContainerInfo`` and its Docker, Mesos, volume, network and Linux parts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dockyard.messages.common import Labels, Parameter, Parameters, Secret
from dockyard.messages.mapping import UInt32, UInt64


class ContainerType(enum.Enum):
    DOCKER = 1
    MESOS = 2


class DockerNetwork(enum.Enum):
    """``ContainerInfo.DockerInfo.Network``."""

    HOST = 1
    BRIDGE = 2
    NONE = 3
    USER = 4


class IPProtocol(enum.Enum):
    """``NetworkInfo.Protocol``."""

    IPv4 = 1
    IPv6 = 2


@dataclass(kw_only=True)
class PortMapping:
    """``NetworkInfo.PortMapping``; ``DockerInfo.PortMapping`` has the same fields."""

    host_port: UInt32
    container_port: UInt32
    protocol: str | None = None


DockerPortMapping = PortMapping


@dataclass(kw_only=True)
class DockerInfo:
    """``ContainerInfo.DockerInfo``."""

    image: str
    network: DockerNetwork = DockerNetwork.HOST
    port_mappings: list[PortMapping] = field(default_factory=list)
    privileged: bool = False
    parameters: list[Parameter] = field(default_factory=list)
    force_pull_image: bool | None = None
    volume_driver: str | None = None
    """Deprecated since Mesos 1.0; use ``Volume.source.docker_volume``."""


class ImageType(enum.Enum):
    APPC = 1
    DOCKER = 2


@dataclass(kw_only=True)
class AppcImage:
    """``Image.Appc``."""

    name: str
    id: str | None = None
    labels: Labels | None = None


@dataclass(kw_only=True)
class Credential:
    """Deprecated registry credential of ``Image.Docker``."""

    principal: str
    secret: str | None = field(default=None, repr=False)


@dataclass(kw_only=True)
class DockerImage:
    """``Image.Docker``."""

    name: str
    credential: Credential | None = None
    config: Secret | None = None


@dataclass(kw_only=True)
class Image:
    type: ImageType
    appc: AppcImage | None = None
    docker: DockerImage | None = None
    cached: bool = True


@dataclass(kw_only=True)
class MesosInfo:
    """``ContainerInfo.MesosInfo``."""

    image: Image | None = None


class VolumeMode(enum.Enum):
    RW = 1
    RO = 2


class VolumeSourceType(enum.Enum):
    """``Volume.Source.Type``."""

    UNKNOWN = 0
    DOCKER_VOLUME = 1
    HOST_PATH = 4
    SANDBOX_PATH = 2
    SECRET = 3
    CSI_VOLUME = 5


@dataclass(kw_only=True)
class DockerVolume:
    """``Volume.Source.DockerVolume``: a named volume of a Docker volume driver."""

    driver: str | None = None
    name: str
    driver_options: Parameters | None = None


class MountPropagationMode(enum.Enum):
    UNKNOWN = 0
    HOST_TO_CONTAINER = 1
    BIDIRECTIONAL = 2


@dataclass(kw_only=True)
class MountPropagation:
    mode: MountPropagationMode | None = None


@dataclass(kw_only=True)
class HostPathSource:
    """``Volume.Source.HostPath``."""

    path: str
    mount_propagation: MountPropagation | None = None


class SandboxPathType(enum.Enum):
    UNKNOWN = 0
    SELF = 1
    PARENT = 2


@dataclass(kw_only=True)
class SandboxPath:
    """``Volume.Source.SandboxPath``."""

    type: SandboxPathType | None = None
    path: str


@dataclass(kw_only=True)
class VolumeSource:
    """``Volume.Source`` (``csi_volume`` is not modelled and is ignored on input)."""

    type: VolumeSourceType | None = None
    docker_volume: DockerVolume | None = None
    host_path: HostPathSource | None = None
    sandbox_path: SandboxPath | None = None
    secret: Secret | None = None


@dataclass(kw_only=True)
class Volume:
    """A mount; exactly one of ``host_path``, ``image`` and ``source`` is set."""

    mode: VolumeMode
    container_path: str
    host_path: str | None = None
    image: Image | None = None
    source: VolumeSource | None = None


@dataclass(kw_only=True)
class IPAddress:
    """``NetworkInfo.IPAddress``."""

    protocol: IPProtocol = IPProtocol.IPv4
    ip_address: str | None = None


@dataclass(kw_only=True)
class NetworkInfo:
    ip_addresses: list[IPAddress] = field(default_factory=list)
    name: str | None = None
    groups: list[str] = field(default_factory=list)
    labels: Labels | None = None
    port_mappings: list[PortMapping] = field(default_factory=list)


class Capability(enum.Enum):
    """``CapabilityInfo.Capability``: Linux capability number + 1000."""

    UNKNOWN = 0
    CHOWN = 1000
    DAC_OVERRIDE = 1001
    DAC_READ_SEARCH = 1002
    FOWNER = 1003
    FSETID = 1004
    KILL = 1005
    SETGID = 1006
    SETUID = 1007
    SETPCAP = 1008
    LINUX_IMMUTABLE = 1009
    NET_BIND_SERVICE = 1010
    NET_BROADCAST = 1011
    NET_ADMIN = 1012
    NET_RAW = 1013
    IPC_LOCK = 1014
    IPC_OWNER = 1015
    SYS_MODULE = 1016
    SYS_RAWIO = 1017
    SYS_CHROOT = 1018
    SYS_PTRACE = 1019
    SYS_PACCT = 1020
    SYS_ADMIN = 1021
    SYS_BOOT = 1022
    SYS_NICE = 1023
    SYS_RESOURCE = 1024
    SYS_TIME = 1025
    SYS_TTY_CONFIG = 1026
    MKNOD = 1027
    LEASE = 1028
    AUDIT_WRITE = 1029
    AUDIT_CONTROL = 1030
    SETFCAP = 1031
    MAC_OVERRIDE = 1032
    MAC_ADMIN = 1033
    SYSLOG = 1034
    WAKE_ALARM = 1035
    BLOCK_SUSPEND = 1036
    AUDIT_READ = 1037


@dataclass(kw_only=True)
class CapabilityInfo:
    capabilities: list[Capability] = field(default_factory=list)


@dataclass(kw_only=True)
class SeccompInfo:
    profile_name: str | None = None
    unconfined: bool | None = None


class IPCMode(enum.Enum):
    """``LinuxInfo.IPCMode``."""

    UNKNOWN = 0
    PRIVATE = 1
    SHARE_PARENT = 2


@dataclass(kw_only=True)
class LinuxInfo:
    """Linux options; only the Mesos containerizer honours them."""

    capability_info: CapabilityInfo | None = None
    """Deprecated; use ``effective_capabilities``."""
    bounding_capabilities: CapabilityInfo | None = None
    effective_capabilities: CapabilityInfo | None = None
    share_pid_namespace: bool | None = None
    seccomp: SeccompInfo | None = None
    ipc_mode: IPCMode | None = None
    shm_size: UInt32 | None = None
    share_cgroups: bool = True


class RLimitType(enum.Enum):
    """``RLimitInfo.RLimit.Type``."""

    UNKNOWN = 0
    RLMT_AS = 1
    RLMT_CORE = 2
    RLMT_CPU = 3
    RLMT_DATA = 4
    RLMT_FSIZE = 5
    RLMT_LOCKS = 6
    RLMT_MEMLOCK = 7
    RLMT_MSGQUEUE = 8
    RLMT_NICE = 9
    RLMT_NOFILE = 10
    RLMT_NPROC = 11
    RLMT_RSS = 12
    RLMT_RTPRIO = 13
    RLMT_RTTIME = 14
    RLMT_SIGPENDING = 15
    RLMT_STACK = 16


@dataclass(kw_only=True)
class RLimit:
    """``RLimitInfo.RLimit``; an unset ``hard``/``soft`` means unlimited."""

    type: RLimitType | None = None
    hard: UInt64 | None = None
    soft: UInt64 | None = None


@dataclass(kw_only=True)
class RLimitInfo:
    rlimits: list[RLimit] = field(default_factory=list)


@dataclass(kw_only=True)
class WindowSize:
    """``TTYInfo.WindowSize``."""

    rows: UInt32
    columns: UInt32


@dataclass(kw_only=True)
class TTYInfo:
    window_size: WindowSize | None = None


@dataclass(kw_only=True)
class ContainerInfo:
    """How to containerize: ``type`` picks ``docker`` or ``mesos``."""

    type: ContainerType
    volumes: list[Volume] = field(default_factory=list)
    hostname: str | None = None
    docker: DockerInfo | None = None
    mesos: MesosInfo | None = None
    network_infos: list[NetworkInfo] = field(default_factory=list)
    linux_info: LinuxInfo | None = None
    rlimit_info: RLimitInfo | None = None
    tty_info: TTYInfo | None = None
