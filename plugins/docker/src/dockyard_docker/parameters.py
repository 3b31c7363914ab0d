"""``DockerInfo.parameters``: ``docker run`` long options mapped onto Engine API fields.

Mesos appends each parameter to the ``docker run`` command line as ``--<key>=<value>``.
dockyard has no command line, so every supported option is translated to the HostConfig
or Config field the docker CLI would fill; an option with no translation fails the launch
and names the key, rather than being silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from docker.errors import DockerException
from docker.types import LogConfig, Ulimit
from docker.utils import parse_bytes
from dockyard.messages import Parameter

from dockyard_docker.spec import RunSpec, SpecError

NETWORK_KEYS = frozenset({"net", "network"})
DNS_KEYS = frozenset({"dns", "dns-search", "dns-opt", "dns-option"})

Apply = Callable[[RunSpec, str], None]

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True", ""})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


def as_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool``, as the docker CLI reads ``--privileged=true``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"'{value}' is not a boolean")


def key_value(value: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not key:
        raise ValueError(f"'{value}' is not KEY=VALUE")
    return key, rest if sep else ""


def size(value: str) -> int:
    try:
        return int(parse_bytes(value))
    except DockerException as error:
        raise ValueError(str(error)) from None


def ulimit(value: str) -> Ulimit:
    name, limits = key_value(value)
    soft, _, hard = limits.partition(":")
    return Ulimit(name=name, soft=int(soft), hard=int(hard or soft))


def publish(spec: RunSpec, value: str) -> None:
    """``[ip:]host_port:container_port[/protocol]`` or ``container_port[/protocol]``."""
    ports, _, protocol = value.partition("/")
    parts = ports.split(":")
    container_port = int(parts[-1])
    host_port = int(parts[-2]) if len(parts) >= 2 and parts[-2] else None
    spec.bind_port(container_port, protocol or "tcp", host_port)


def expose(spec: RunSpec, value: str) -> None:
    port, _, protocol = value.partition("/")
    spec.exposed_ports.append((int(port), protocol or "tcp"))


def log_option(spec: RunSpec, value: str) -> None:
    name, option = key_value(value)
    current = spec.host.get("log_config")
    config = dict(current["Config"]) if current else {}
    config[name] = option
    spec.host["log_config"] = LogConfig(type=current["Type"] if current else "", config=config)


def log_driver(spec: RunSpec, value: str) -> None:
    current = spec.host.get("log_config")
    spec.host["log_config"] = LogConfig(type=value, config=current["Config"] if current else {})


def _host(key: str, convert: Callable[[str], object] = str) -> Apply:
    def apply(spec: RunSpec, value: str) -> None:
        spec.host[key] = convert(value)

    return apply


def _host_list(key: str, convert: Callable[[str], object] = str) -> Apply:
    def apply(spec: RunSpec, value: str) -> None:
        spec.append_host(key, convert(value))

    return apply


def _host_map(key: str, separator: str = "=") -> Apply:
    def apply(spec: RunSpec, value: str) -> None:
        name, sep, entry = value.partition(separator)
        if not name or not sep:
            raise ValueError(f"'{value}' is not NAME{separator}VALUE")
        spec.set_host_entry(key, name, entry)

    return apply


def _env(spec: RunSpec, value: str) -> None:
    name, entry = key_value(value)
    spec.environment[name] = entry


def _label(spec: RunSpec, value: str) -> None:
    name, entry = key_value(value)
    spec.labels[name] = entry


def _tmpfs(spec: RunSpec, value: str) -> None:
    path, _, options = value.partition(":")
    spec.set_host_entry("tmpfs", path, options)


def _set(attribute: str, convert: Callable[[str], object] = str) -> Apply:
    def apply(spec: RunSpec, value: str) -> None:
        setattr(spec, attribute, convert(value))

    return apply


def _nano_cpus(value: str) -> int:
    return int(float(value) * 1e9)


PARAMETERS: dict[str, Apply] = {
    "add-host": _host_map("extra_hosts", ":"),
    "blkio-weight": _host("blkio_weight", int),
    "cap-add": _host_list("cap_add"),
    "cap-drop": _host_list("cap_drop"),
    "cgroup-parent": _host("cgroup_parent"),
    "cgroupns": _host("cgroupns"),
    "cpu-period": _host("cpu_period", int),
    "cpu-quota": _host("cpu_quota", int),
    "cpu-shares": _host("cpu_shares", int),
    "cpus": _host("nano_cpus", _nano_cpus),
    "cpuset-cpus": _host("cpuset_cpus"),
    "cpuset-mems": _host("cpuset_mems"),
    "device": _host_list("devices"),
    "dns": _host_list("dns"),
    "dns-opt": _host_list("dns_opt"),
    "dns-option": _host_list("dns_opt"),
    "dns-search": _host_list("dns_search"),
    "entrypoint": _set("entrypoint", lambda value: [value]),
    "env": _env,
    "expose": expose,
    "group-add": _host_list("group_add"),
    "hostname": _set("hostname"),
    "init": _host("init", as_bool),
    "ipc": _host("ipc_mode"),
    "label": _label,
    "log-driver": log_driver,
    "log-opt": log_option,
    "memory": _host("mem_limit", size),
    "memory-reservation": _host("mem_reservation", size),
    "memory-swap": _host("memswap_limit", size),
    "memory-swappiness": _host("mem_swappiness", int),
    "oom-kill-disable": _host("oom_kill_disable", as_bool),
    "oom-score-adj": _host("oom_score_adj", int),
    "pid": _host("pid_mode"),
    "pids-limit": _host("pids_limit", int),
    "privileged": _host("privileged", as_bool),
    "publish": publish,
    "read-only": _host("read_only", as_bool),
    "runtime": _host("runtime"),
    "security-opt": _host_list("security_opt"),
    "shm-size": _host("shm_size", size),
    "stop-signal": _set("stop_signal"),
    "stop-timeout": _set("stop_timeout", int),
    "sysctl": _host_map("sysctls"),
    "tmpfs": _tmpfs,
    "ulimit": _host_list("ulimits", ulimit),
    "user": _set("user"),
    "userns": _host("userns_mode"),
    "uts": _host("uts_mode"),
    "volume": _host_list("binds"),
    "volume-driver": _host("volume_driver"),
    "workdir": _set("working_dir"),
}
"""Long option name → how it changes the RunSpec. Short aliases are in ALIASES."""

ALIASES = {
    "e": "env",
    "l": "label",
    "m": "memory",
    "p": "publish",
    "u": "user",
    "v": "volume",
    "w": "workdir",
    "h": "hostname",
}


def canonical_key(key: str) -> str:
    key = key.lstrip("-")
    return ALIASES.get(key, key)


def apply_parameters(spec: RunSpec, parameters: Sequence[Parameter]) -> None:
    """Apply every parameter except the network ones (handled with the network mode)."""
    for parameter in parameters:
        key = canonical_key(parameter.key)
        if key in NETWORK_KEYS:
            continue
        apply = PARAMETERS.get(key)
        if apply is None:
            raise SpecError(f"Unsupported docker parameter '{parameter.key}'")
        try:
            apply(spec, parameter.value)
        except (ValueError, TypeError) as error:
            raise SpecError(
                f"Invalid value '{parameter.value}' for docker parameter '{parameter.key}': {error}"
            ) from None


def sets_dns(parameters: Sequence[Parameter]) -> bool:
    return any(canonical_key(p.key) in DNS_KEYS for p in parameters)


def networks(parameters: Sequence[Parameter]) -> list[str]:
    return [p.value for p in parameters if canonical_key(p.key) in NETWORK_KEYS]
