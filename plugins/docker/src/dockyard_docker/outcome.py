"""What the core learns from the Engine: the TASK_RUNNING data and how a container ended."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Set
from typing import Any

from dockyard.containers import Termination
from dockyard.messages import (
    ContainerID,
    ContainerInfo,
    ContainerStatus,
    IPAddress,
    IPProtocol,
    NetworkInfo,
    Reason,
    TaskState,
)

REDACTED = "(secret)"


def termination(state: Mapping[str, Any], *, killed: bool, oom_event: bool) -> Termination:
    """Mesos's docker executor outcome, plus OOM detection (contract item 7)."""
    code = int(state.get("ExitCode", -1))
    message = f"Container exited with status {code}"
    status = (code & 0xFF) << 8  # wait(2) status of a normal exit with that code
    if killed:
        return Termination(status=status, state=TaskState.TASK_KILLED, message=message)
    if code != 0 and (state.get("OOMKilled") or oom_event):
        return Termination(
            status=status,
            state=TaskState.TASK_FAILED,
            reason=Reason.REASON_CONTAINER_LIMITATION_MEMORY,
            message=f"Memory limit exceeded: {message}",
        )
    state_ = TaskState.TASK_FINISHED if code == 0 else TaskState.TASK_FAILED
    return Termination(status=status, state=state_, message=message)


def redacted_inspect(inspect: Mapping[str, Any], secret_names: Set[str]) -> dict[str, Any]:
    """The inspect JSON with secret environment values hidden (contract item 8)."""
    result = copy.deepcopy(dict(inspect))
    config = result.get("Config") or {}
    env = config.get("Env") or []
    config["Env"] = [
        f"{entry.partition('=')[0]}={REDACTED}"
        if entry.partition("=")[0] in secret_names
        else entry
        for entry in env
    ]
    return result


def running_data(inspect: Mapping[str, Any], secret_names: Set[str]) -> bytes:
    """TASK_RUNNING ``data``: the ``docker inspect`` array, as Mesos sends it."""
    return json.dumps([redacted_inspect(inspect, secret_names)]).encode()


def container_status(
    container_id: ContainerID,
    inspect: Mapping[str, Any],
    info: ContainerInfo | None,
    agent_ip: str | None,
) -> ContainerStatus:
    """The container's IPs; with host networking (no IP of its own) the agent's IP, as
    Mesos's agent adds it."""
    settings = inspect.get("NetworkSettings") or {}
    mode = (inspect.get("HostConfig") or {}).get("NetworkMode", "")
    network = (settings.get("Networks") or {}).get(mode) or {}
    ipv4 = network.get("IPAddress") or settings.get("IPAddress")
    ipv6 = network.get("GlobalIPv6Address") or settings.get("GlobalIPv6Address")
    if mode == "host" and not ipv4:
        ipv4 = agent_ip
    addresses = [IPAddress(ip_address=ipv4)] if ipv4 else []
    if ipv6:
        addresses.append(IPAddress(protocol=IPProtocol.IPv6, ip_address=ipv6))
    if not addresses:
        return ContainerStatus(container_id=container_id)
    template = info.network_infos[0] if info is not None and info.network_infos else NetworkInfo()
    network_info = copy.deepcopy(template)
    network_info.ip_addresses = addresses
    return ContainerStatus(container_id=container_id, network_infos=[network_info])
