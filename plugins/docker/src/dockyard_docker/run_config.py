"""ContainerConfig → RunSpec: the Engine API equivalent of Mesos's ``docker run`` argv (§3.5)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from docker.types import DriverConfig, Mount
from dockyard.containers import ContainerConfig
from dockyard.messages import (
    CommandInfo,
    ContainerInfo,
    DockerInfo,
    EnvironmentVariable,
    VariableType,
    Volume,
    VolumeMode,
)
from dockyard.stated_limits import StatedLimits, stated_limits

from dockyard_docker import naming, parameters
from dockyard_docker.agent_container import ON_THE_HOST, PathMap
from dockyard_docker.images import normalize_reference
from dockyard_docker.resources import allocation_role, compute_limits, port_ranges, scalar_total
from dockyard_docker.spec import RunSpec, SpecError


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """Agent-wide inputs to the translation."""

    agent_id: str
    sandbox_directory: str
    default_dns: Any
    total_memory: int
    enable_cfs: bool = False
    """``--cgroups_enable_cfs``: a CPU quota from the cpus request when there is no limit."""
    paths: PathMap = ON_THE_HOST
    """Agent paths → host paths: not the same when the agent runs in a container."""


def build_run_spec(config: ContainerConfig, context: RunContext) -> RunSpec:
    info = config.container_info
    docker = info.docker if info is not None else None
    if info is None or docker is None or not docker.image:
        raise SpecError("No docker info found in container info")
    container_id = config.container_id.value
    task_id = config.task_info.task_id.value if config.task_info is not None else None
    name = naming.container_name(context.agent_id, container_id)
    ownership = naming.ownership_labels(context.agent_id, container_id, task_id)

    spec = RunSpec(image=normalize_reference(docker.image), name=name)
    spec.labels.update(user_labels(config))
    spec.environment, spec.secret_names = environment(config, name, context.sandbox_directory)
    sandbox = host_path(config.sandbox, context.paths)
    add_volumes(spec, info, docker, sandbox, context.sandbox_directory)
    add_network(spec, config, info, docker, context.default_dns)
    spec.entrypoint, spec.command = command_line(config.command)
    add_limits(spec, config, context)
    spec.host["privileged"] = docker.privileged
    parameters.apply_parameters(spec, docker.parameters)
    spec.labels.update(ownership)  # after parameters: a `label` parameter cannot disown it
    return spec


def user_labels(config: ContainerConfig) -> dict[str, str]:
    """The task's labels on a task container, the executor's on an executor container."""
    owner = config.task_info or config.executor_info
    labels = owner.labels if owner is not None else None
    return {label.key: label.value or "" for label in labels.labels} if labels else {}


def environment(
    config: ContainerConfig, name: str, sandbox_directory: str
) -> tuple[dict[str, str], set[str]]:
    """The task's variables plus the three the container needs, as Mesos gives a task
    container; an executor container (no TaskInfo) also gets the agent's variables, which
    win over its own. SECRET variables carry their value, never an empty string."""
    env = dict(config.environment) if config.task_info is None else {}
    secrets: set[str] = set()
    variables = config.command.environment.variables if config.command.environment else []
    for variable in variables:
        if variable.name in env:
            continue
        env[variable.name] = variable_value(variable)
        if variable.type == VariableType.SECRET:
            secrets.add(variable.name)
    env["MESOS_SANDBOX"] = sandbox_directory
    env["MESOS_CONTAINER_NAME"] = name
    role = allocation_role(task_resources(config))
    if role is not None:
        env["MESOS_ALLOCATION_ROLE"] = role
    return env, secrets


def variable_value(variable: EnvironmentVariable) -> str:
    """A variable's value; a SECRET one gets its secret's value, never an empty string."""
    if variable.type != VariableType.SECRET:
        return variable.value or ""
    secret = variable.secret
    if secret is None or secret.value is None:
        raise SpecError(
            f"Environment variable '{variable.name}' names a secret without a value; "
            "only secrets given by value are supported"
        )
    return secret.value.data.decode()


def host_path(path: Path, paths: PathMap) -> Path:
    """Where ``path`` is on the host, which resolves every bind mount's source."""
    found = paths.to_host(PurePosixPath(path))
    if found is None:
        raise SpecError(
            f"{path} is on no bind mount or volume of the agent's container "
            "(--docker_mesos_image), so the Engine cannot mount it"
        )
    return Path(found)


def task_resources(config: ContainerConfig) -> list[Any]:
    """Mesos gives the task container the task's own resources, not the executor's overhead."""
    if config.task_info is not None and config.task_info.resources:
        return list(config.task_info.resources)
    return list(config.resources)


def add_volumes(
    spec: RunSpec, info: ContainerInfo, docker: DockerInfo, sandbox: Path, mapped: str
) -> None:
    for volume in info.volumes:
        add_volume(spec, volume, docker, sandbox, mapped)
    if ":" in str(sandbox):  # a task id may hold one; a bind string cannot (MESOS-1833)
        spec.append_host("mounts", Mount(mapped, str(sandbox), type="bind", read_only=False))
    else:
        spec.append_host("binds", f"{sandbox}:{mapped}:rw")


def add_volume(
    spec: RunSpec, volume: Volume, docker: DockerInfo, sandbox: Path, mapped: str
) -> None:
    read_only = volume.mode == VolumeMode.RO
    mode = "ro" if read_only else "rw"
    container_path = posixpath.join(mapped, volume.container_path)
    if volume.image is not None:
        raise SpecError("Image volumes are not supported by the docker containerizer")
    if volume.host_path:
        relative = not posixpath.isabs(volume.host_path)
        if relative and not posixpath.isabs(volume.container_path):
            raise SpecError(
                f"Both host_path '{volume.host_path}' and container_path "
                f"'{volume.container_path}' of a volume are relative"
            )
        if relative and docker.volume_driver:
            spec.append_host(
                "mounts",
                _named_volume(
                    volume.host_path, container_path, read_only, docker.volume_driver, {}
                ),
            )
            return
        host_path = str(sandbox / volume.host_path) if relative else volume.host_path
        spec.append_host("binds", f"{host_path}:{container_path}:{mode}")
        return
    source = volume.source
    if source is None:
        raise SpecError("Host path or volume source is required")
    docker_volume = source.docker_volume
    if source.type is None or source.type.name != "DOCKER_VOLUME" or docker_volume is None:
        raise SpecError(
            f"Volume source type {source.type.name if source.type else None} is not "
            "supported by the docker containerizer (use host_path or DOCKER_VOLUME)"
        )
    options = {}
    if docker_volume.driver_options is not None:
        options = {p.key: p.value for p in docker_volume.driver_options.parameter}
    driver = docker_volume.driver or docker.volume_driver
    spec.append_host(
        "mounts", _named_volume(docker_volume.name, container_path, read_only, driver, options)
    )


def _named_volume(
    name: str, target: str, read_only: bool, driver: str | None, options: Mapping[str, str]
) -> Mount:
    driver_config = DriverConfig(driver, dict(options)) if driver else None
    return Mount(target, name, type="volume", read_only=read_only, driver_config=driver_config)


NETWORK_MODES = {"HOST": "host", "BRIDGE": "bridge", "NONE": "none"}


def add_network(
    spec: RunSpec,
    config: ContainerConfig,
    info: ContainerInfo,
    docker: DockerInfo,
    default_dns: Any,
) -> None:
    kind = docker.network.name if docker.network is not None else "HOST"
    if kind == "USER":
        if not info.network_infos:
            raise SpecError("No network info found in container info")
        if len(info.network_infos) > 1:
            raise SpecError("Only a single network can be defined in Docker run")
        network_name = info.network_infos[0].name
        if not network_name:
            raise SpecError("No network name found in network info")
        mode = network_name
    else:
        network_name = None
        mode = NETWORK_MODES[kind]
    if info.hostname:
        if kind == "HOST":
            raise SpecError("Unable to set hostname with host network mode")
        spec.hostname = info.hostname
    if docker.port_mappings:
        add_port_mappings(spec, config, docker, kind)

    chosen = parameters.networks(docker.parameters)
    spec.host["network_mode"] = chosen[0] if chosen else mode
    spec.extra_networks = chosen[1:]
    if not parameters.sets_dns(docker.parameters):
        add_default_dns(spec, default_dns, kind, network_name)


def add_port_mappings(
    spec: RunSpec, config: ContainerConfig, docker: DockerInfo, kind: str
) -> None:
    if kind not in ("BRIDGE", "USER"):
        raise SpecError("Port mappings are only supported for bridge and user-defined networks")
    resources = task_resources(config)
    if not resources:
        raise SpecError("Port mappings require resources")
    ranges = port_ranges(resources)
    if not ranges:
        raise SpecError("Port mappings require port resources")
    for mapping in docker.port_mappings:
        if not any(begin <= mapping.host_port <= end for begin, end in ranges):
            raise SpecError(f"Port [{mapping.host_port}] not included in resources")
        protocol = (mapping.protocol or "tcp").lower()
        spec.bind_port(mapping.container_port, protocol, mapping.host_port)


def add_default_dns(spec: RunSpec, default_dns: Any, kind: str, network_name: str | None) -> None:
    """``--default_container_dns``: the BRIDGE entry, or the USER entry for the network."""
    entries = (default_dns or {}).get("docker", []) if isinstance(default_dns, dict) else []
    candidates = [e for e in entries if e.get("network_mode") == kind]
    if kind == "USER":
        named = [e for e in candidates if e.get("network_name") == network_name]
        candidates = named or [e for e in candidates if not e.get("network_name")]
    if kind not in ("BRIDGE", "USER") or not candidates:
        return
    dns = candidates[0].get("dns", {})
    for key, field in (("nameservers", "dns"), ("search", "dns_search"), ("options", "dns_opt")):
        if dns.get(key):
            spec.host[field] = list(dns[key])


def command_line(command: CommandInfo) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, cmd) per MESOS-1770: a shell command overrides the image ENTRYPOINT;
    otherwise value and arguments replace the image CMD and go to its ENTRYPOINT."""
    if command.shell:
        if not command.value:
            raise SpecError("Shell specified but no command value provided")
        return ["/bin/sh"], ["-c", command.value]
    argv = ([command.value] if command.value else []) + list(command.arguments)
    return None, argv or None


def add_limits(spec: RunSpec, config: ContainerConfig, context: RunContext) -> None:
    limits = compute_limits(
        task_resources(config), config.limits, context.total_memory, context.enable_cfs
    )
    for field, value in vars(limits).items():
        if value is not None:
            spec.host[field] = value


def usage_limits(config: ContainerConfig, context: RunContext) -> StatedLimits:
    """The limits ``usage`` states, from the same resources the container was run with."""
    resources = task_resources(config)
    cpus_limit, mem_limit = config.limits.get("cpus"), config.limits.get("mem")
    return stated_limits(
        cpus=scalar_total(resources, "cpus"),
        mem_mb=scalar_total(resources, "mem"),
        cpus_limit=None if cpus_limit is None else cpus_limit.value,
        mem_limit_mb=None if mem_limit is None else mem_limit.value,
        enable_cfs=context.enable_cfs,
    )
