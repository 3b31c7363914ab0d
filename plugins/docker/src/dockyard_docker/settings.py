"""The plugin's agent flags (Mesos names and defaults) and their parsed, typed form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dockyard import flags as kinds

if TYPE_CHECKING:
    from dockyard.flags import Flags, FlagSet

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_SANDBOX_DIRECTORY = "/mnt/mesos/sandbox"
DEFAULT_REMOVE_DELAY = timedelta(hours=6)
DEFAULT_SHUTDOWN_GRACE = timedelta(seconds=5)
"""Mesos's ``--executor_shutdown_grace_period`` default, used when the core has no such flag."""


def declare(flags: FlagSet) -> None:
    """Register the docker flags with Mesos's names, defaults and meaning."""
    flags.add(
        "docker_socket",
        kinds.STRING,
        default=DEFAULT_SOCKET,
        help="Path of the Docker Engine's UNIX socket.",
    )
    flags.add(
        "docker_config",
        kinds.JSON,
        default=None,
        help="Docker client config (inline JSON or file:///path) used to authenticate pulls "
        "when the sandbox holds neither .docker/config.json nor .dockercfg.",
        secret=True,
    )
    flags.add(
        "docker_kill_orphans",
        kinds.BOOL,
        default=True,
        help="On recovery, stop and remove containers of this agent that no checkpoint "
        "claims. Containers of other agents are never touched.",
    )
    one_shot = flags.command == "launch"
    flags.add(
        "docker_remove_delay",
        kinds.DURATION,
        default=timedelta(0) if one_shot else DEFAULT_REMOVE_DELAY,
        help="How long a terminated container is kept before it is removed (the schedule "
        "survives restarts: a removal due while no agent ran is done by the next agent or "
        "launch on the work_dir)."
        + (
            " dockyard launch removes its container when the task ends, once its output "
            "is written, unless this is given."
            if one_shot
            else ""
        ),
    )
    flags.add(
        "docker_stop_timeout",
        kinds.DURATION,
        default=timedelta(0),
        help="Grace period between the stop signal and SIGKILL when neither the task's "
        "kill policy nor the kill request gives one (the larger of this and "
        "--executor_shutdown_grace_period is used).",
    )
    flags.add(
        "docker_mesos_image",
        kinds.STRING,
        default=None,
        help="The agent runs in a Docker container of this image (the Docker socket and "
        "the work_dir mounted into it): sandbox paths are translated to host paths through "
        "the container's mounts. See docs/running-in-docker.md.",
    )
    flags.add(
        "sandbox_directory",
        kinds.STRING,
        default=DEFAULT_SANDBOX_DIRECTORY,
        help="Where the sandbox is mounted inside the container (the value of MESOS_SANDBOX).",
    )
    flags.add(
        "default_container_dns",
        kinds.JSON,
        default=None,
        help='DNS for containers whose parameters set none: {"docker": [{"network_mode": '
        '"BRIDGE"|"USER", "network_name": ..., "dns": {"nameservers": [], "search": [], '
        '"options": []}}]}.',
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
        return cls(
            socket=flags["docker_socket"],
            config=flags["docker_config"],
            kill_orphans=flags["docker_kill_orphans"],
            remove_delay=flags["docker_remove_delay"],
            stop_timeout=flags["docker_stop_timeout"],
            sandbox_directory=flags["sandbox_directory"],
            mesos_image=flags["docker_mesos_image"] or None,
            default_dns=flags["default_container_dns"],
            shutdown_grace=flags.get("executor_shutdown_grace_period") or DEFAULT_SHUTDOWN_GRACE,
            agent_ip=_specific_address(flags.get("ip")),
            enable_cfs=bool(flags.get("cgroups_enable_cfs")),
        )

    @property
    def default_grace(self) -> timedelta:
        """Mesos's docker executor: the shutdown grace, unless --docker_stop_timeout is larger."""
        return max(self.shutdown_grace, self.stop_timeout)


def _specific_address(ip: str | None) -> str | None:
    return None if ip in (None, "", "0.0.0.0", "::") else ip
