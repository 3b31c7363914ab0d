"""RunSpec: everything needed for one Engine API container create, before it is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class SpecError(ValueError):
    """The container cannot be expressed for the Engine; the text becomes the launch error."""


@dataclass(kw_only=True)
class RunSpec:
    """Create-container arguments (docker SDK names) assembled from a ContainerConfig.

    ``host`` holds ``APIClient.create_host_config`` keyword arguments, so a ``docker run``
    parameter maps onto exactly the HostConfig field the CLI would set.
    """

    image: str
    name: str
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    hostname: str | None = None
    user: str | None = None
    working_dir: str | None = None
    stop_signal: str | None = None
    stop_timeout: int | None = None
    exposed_ports: list[tuple[int, str]] = field(default_factory=list)
    extra_networks: list[str] = field(default_factory=list)
    """Networks joined after create (a second ``network`` parameter)."""
    host: dict[str, Any] = field(default_factory=dict)
    secret_names: set[str] = field(default_factory=set)
    """Environment names whose values are secrets: kept out of logs and status data."""

    def append_host(self, key: str, value: Any) -> None:
        self.host.setdefault(key, []).append(value)

    def set_host_entry(self, key: str, name: str, value: Any) -> None:
        self.host.setdefault(key, {})[name] = value

    def bind_port(self, container_port: int, protocol: str, host_port: int | None) -> None:
        key = f"{container_port}/{protocol}"
        if (container_port, protocol) not in self.exposed_ports:
            self.exposed_ports.append((container_port, protocol))
        self.host.setdefault("port_bindings", {}).setdefault(key, []).append(host_port)
