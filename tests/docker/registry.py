"""A real Docker registry (distribution v2, the ``docker-registry`` package) with htpasswd auth."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

USER = "dockyard"
PASSWORD = "s3cret-Pa55"


@dataclass(frozen=True)
class Registry:
    address: str
    """host:port, e.g. ``127.0.0.1:40123``."""

    def auth_config(self, password: str = PASSWORD) -> dict[str, str]:
        return {"username": USER, "password": password, "serveraddress": self.address}

    def config_json(self, password: str = PASSWORD) -> dict[str, object]:
        """A ``.docker/config.json`` body."""
        return {"auths": {self.address: {"auth": _basic(password)}}}

    def dockercfg(self, password: str = PASSWORD) -> dict[str, object]:
        """A legacy ``.dockercfg`` body."""
        return {self.address: {"auth": _basic(password), "email": "test@example.com"}}


def _basic(password: str) -> str:
    return base64.b64encode(f"{USER}:{password}".encode()).decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_registry(directory: Path) -> tuple[subprocess.Popen[bytes], Registry]:
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    htpasswd = subprocess.run(
        ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True
    ).stdout
    (directory / "htpasswd").write_text(htpasswd)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"htpasswd": {"realm": "dockyard-test", "path": str(directory / "htpasswd")}},
    }
    (directory / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    process = subprocess.Popen(
        [binary, "serve", str(directory / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=open(directory / "registry.log", "wb"),  # noqa: SIM115
    )
    registry = Registry(f"127.0.0.1:{port}")
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://{registry.address}/v2/", timeout=1)
        except urllib.error.HTTPError:
            return process, registry  # 401: it is up and asks for credentials
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited: {(directory / 'registry.log').read_text()}"
                ) from None
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("docker-registry did not start")
