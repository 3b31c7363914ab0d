"""The plugin's agent flags (Mesos names and defaults) and their parsed, typed form."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dockyard import flags as kinds
from dockyard.core_flags import CGROUPS_ENABLE_CFS, EXECUTOR_SHUTDOWN_GRACE_PERIOD, IP
from dockyard.flags import define

if TYPE_CHECKING:
    from dockyard.flags import Flags, FlagSet

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_SANDBOX_DIRECTORY = "/mnt/mesos/sandbox"
DEFAULT_REMOVE_DELAY = timedelta(hours=6)
DEFAULT_SHUTDOWN_GRACE = timedelta(seconds=5)
"""Mesos's ``--executor_shutdown_grace_period`` default, used when the core has no such flag."""

SOCKET = define(
    "docker_socket",
    kinds.STRING,
    default=DEFAULT_SOCKET,
    help="Path of the Docker Engine's UNIX socket.",
)
CONFIG = define(
    "docker_config",
    kinds.JSON,
    help="Docker client config (inline JSON or file:///path) used to authenticate pulls "
    "when the sandbox holds neither .docker/config.json nor .dockercfg.",
    secret=True,
)
KILL_ORPHANS = define(
    "docker_kill_orphans",
    kinds.BOOL,
    default=True,
    help="On recovery, stop and remove containers of this agent that no checkpoint "
    "claims. Containers of other agents are never touched.",
)
REMOVE_DELAY = define(
    "docker_remove_delay",
    kinds.DURATION,
    default=DEFAULT_REMOVE_DELAY,
    help="How long a terminated container is kept before it is removed (the schedule "
    "survives restarts: a removal due while no agent ran is done by the next agent or "
    "launch on the work_dir).",
)
ONE_SHOT_REMOVE_DELAY = replace(
    REMOVE_DELAY,
    default=timedelta(0),
    help=REMOVE_DELAY.help + " dockyard launch removes its container when the task ends, "
    "once its output is written, unless this is given.",
)
"""``--docker_remove_delay`` as ``dockyard launch`` declares it."""
STOP_TIMEOUT = define(
    "docker_stop_timeout",
    kinds.DURATION,
    default=timedelta(0),
    help="Grace period between the stop signal and SIGKILL when neither the task's "
    "kill policy nor the kill request gives one (the larger of this and "
    "--executor_shutdown_grace_period is used).",
)
MESOS_IMAGE = define(
    "docker_mesos_image",
    kinds.STRING,
    help="The agent runs in a Docker container of this image (the Docker socket and "
    "the work_dir mounted into it): sandbox paths are translated to host paths through "
    "the container's mounts. See docs/running-in-docker.md.",
)
SANDBOX_DIRECTORY = define(
    "sandbox_directory",
    kinds.STRING,
    default=DEFAULT_SANDBOX_DIRECTORY,
    help="Where the sandbox is mounted inside the container (the value of MESOS_SANDBOX).",
)
DEFAULT_CONTAINER_DNS = define(
    "default_container_dns",
    kinds.JSON,
    help='DNS for containers whose parameters set none: {"docker": [{"network_mode": '
    '"BRIDGE"|"USER", "network_name": ..., "dns": {"nameservers": [], "search": [], '
    '"options": []}}]}.',
)


def declare(flags: FlagSet) -> None:
    """Register the docker flags with Mesos's names, defaults and meaning."""
    one_shot = flags.command == "launch"
    flags.declare(
        SOCKET,
        CONFIG,
        KILL_ORPHANS,
        ONE_SHOT_REMOVE_DELAY if one_shot else REMOVE_DELAY,
        STOP_TIMEOUT,
        MESOS_IMAGE,
        SANDBOX_DIRECTORY,
        DEFAULT_CONTAINER_DNS,
    )


@dataclass(frozen=True, kw_only=True)
class DockerSettings:
    socket: str
    config: Any
    """The parsed ``--docker_config`` JSON, or None."""
    kill_orphans: bool
    remove_delay: timedelta
    stop_timeout: timedelta
    sandbox_directory: str
    mesos_image: str | None
    """``--docker_mesos_image``: the agent runs in a container of this image."""
    default_dns: Any
    """The parsed ``--default_container_dns`` JSON, or None."""
    shutdown_grace: timedelta
    agent_ip: str | None
    """The agent's ``--ip`` if it names one address: the IP of host-network containers."""
    enable_cfs: bool
    """The core's ``--cgroups_enable_cfs``: CPU quotas from cpus requests."""

    @classmethod
    def from_flags(cls, flags: Flags) -> DockerSettings:
        """The settings from the docker flags, and the core flags the plugin follows
        (their Mesos defaults if the registry holds only the docker flags)."""
        return cls(
            socket=SOCKET.get(flags),
            config=CONFIG.get(flags),
            kill_orphans=KILL_ORPHANS.get(flags),
            remove_delay=REMOVE_DELAY.get(flags),
            stop_timeout=STOP_TIMEOUT.get(flags),
            sandbox_directory=SANDBOX_DIRECTORY.get(flags),
            mesos_image=MESOS_IMAGE.get(flags) or None,
            default_dns=DEFAULT_CONTAINER_DNS.get(flags),
            shutdown_grace=EXECUTOR_SHUTDOWN_GRACE_PERIOD.get(flags, DEFAULT_SHUTDOWN_GRACE),
            agent_ip=_specific_address(IP.get(flags, None)),
            enable_cfs=CGROUPS_ENABLE_CFS.get(flags, False),
        )

    @property
    def default_grace(self) -> timedelta:
        """Mesos's docker executor: the shutdown grace, unless --docker_stop_timeout is larger."""
        return max(self.shutdown_grace, self.stop_timeout)


def _specific_address(ip: str | None) -> str | None:
    return None if ip in (None, "", "0.0.0.0", "::") else ip
