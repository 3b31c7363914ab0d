"""Containers that run in an image: root file system, OCI bundle, and the runtime's argv.

The supervisor runs ``runc run --keep`` in the foreground as the task's process, inside
the task's cgroups, exactly as it runs a native task: so kill with grace, OOM, usage,
recovery after an agent SIGKILL and the real exit status (runc exits with the container's
status, 128+N for a signal) need nothing new. ``--keep`` leaves the runtime's state for
:meth:`ImageRuntime.remove` to delete (runc would otherwise try to remove the cgroups it
is itself in, and retry for 150 ms). Everything of a container lives in
``<state_dir>/images/containers/<container id>/``: the bundle (``config.json``), the
root file system and the runtime's log; removing the container removes it all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import posixpath
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.containers import ContainerConfig, LaunchError, StartupError
from dockyard.messages import CommandInfo, Volume, VolumeMode, VolumeSourceType
from dockyard.ownership import hand_over
from dockyard.supervision import cgroups, command

from dockyard_mesos import image_user, oci_bundle, provisioner
from dockyard_mesos.image_command import RuntimeConfig, image_environment, launch_argv

log = logging.getLogger(__name__)

RUNTIME = "runc"
DEFAULT_SANDBOX_DIRECTORY = "/mnt/mesos/sandbox"
BUNDLE_CONFIG = "config.json"
RUNTIME_LOG = "runc.log"
RUN_FAILED = "runc run failed: "
"""How runc's log names an error that kept it from starting the container."""
LOG_TAIL = 64 * 1024


class RunnableImage(Protocol):
    """What a running container needs of a pulled image (``dockyard_mesos.images.Image``)."""

    @property
    def layers(self) -> tuple[Path, ...]: ...
    @property
    def config(self) -> RuntimeConfig: ...


class ImageSource(Protocol):
    """Where images come from: ``dockyard_mesos.images.ImageStore``."""

    async def get(
        self,
        reference: str,
        *,
        force_pull: bool = False,
        progress: Callable[[str], None] | None = None,
        holder: str | None = None,
    ) -> RunnableImage: ...
    async def release(self, container_id: str) -> None: ...


@dataclass(frozen=True)
class _NoImage:
    """An image config with nothing in it: commands run inside a container use their own."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str | None = None
    user: str | None = None


class ImageRuntime:
    """The containers of one agent that run in images."""

    def __init__(self, state_dir: Path, backend: str, runtime: str, sandbox_directory: str):
        self._root = state_dir / "images"
        self._containers = self._root / "containers"
        self._runtime_state = self._root / RUNTIME
        self.backend = backend
        self._runtime = runtime
        self._sandbox_directory = sandbox_directory

    @classmethod
    def start(cls, state_dir: Path, backend: str | None, sandbox_directory: str) -> ImageRuntime:
        """Check what running images needs (root, the runtime, a backend), or refuse."""
        if os.geteuid() != 0:
            raise StartupError("Container images (--image_providers) need an agent running as root")
        runtime = shutil.which(RUNTIME)
        if runtime is None:
            raise StartupError(
                f"Container images (--image_providers) need the OCI runtime '{RUNTIME}' "
                f"on PATH (Debian package '{RUNTIME}')"
            )
        (state_dir / "images" / "containers").mkdir(parents=True, exist_ok=True)
        try:
            chosen = provisioner.choose_backend(backend, state_dir / "images")
        except provisioner.ProvisionError as error:
            raise StartupError(str(error)) from error
        log.info("container images: %s backend, runtime %s", chosen, runtime)
        return cls(state_dir, chosen, runtime, sandbox_directory)

    def owns(self, key: str) -> bool:
        """Whether a container runs (or was being prepared to run) in an image."""
        return self._directory(key).is_dir()

    def keys(self) -> set[str]:
        return {entry.name for entry in self._containers.iterdir() if entry.is_dir()}

    async def prepare(
        self, key: str, config: ContainerConfig, image: RunnableImage, cgroups_path: str
    ) -> None:
        """Build the container's root file system and bundle; raise LaunchError if not."""
        directory = self._directory(key)
        directory.mkdir(mode=0o700)
        try:
            rootfs = await provisioner.provision(self.backend, directory, image.layers)
        except (OSError, provisioner.ProvisionError) as error:
            raise LaunchError(f"Failed to provision the root file system: {error}") from error
        user = image_user.resolve(rootfs, config.user or image.config.user)
        process = oci_bundle.ProcessSpec(
            argv=launch_argv(config.command, image.config),
            env=self._environment(config, image.config),
            cwd=posixpath.join("/", image.config.working_dir or self._sandbox_directory),
            uid=user.uid,
            gid=user.gid,
            additional_gids=user.additional_gids,
        )
        if user.uid != 0:
            hand_over(config.sandbox, user.uid, user.gid)
        info = config.container_info
        document = oci_bundle.config(
            process=process,
            hostname=(info.hostname if info else None) or socket.gethostname(),
            binds=self._binds(config),
            cgroups_path=cgroups_path,
        )
        bundle = directory / BUNDLE_CONFIG
        fd = os.open(bundle, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as file:  # holds the task's secrets: root only, never logged
            json.dump(document, file)

    def run_argv(self, key: str) -> tuple[str, list[str]]:
        """The supervised process of a container: the runtime, in the foreground."""
        directory = self._directory(key)
        return self._runtime, [
            *self._runtime_prefix(directory / RUNTIME_LOG),
            "run",
            "--keep",
            "--bundle",
            str(directory),
            key,
        ]

    def exec_argv(self, key: str, inside: CommandInfo) -> tuple[str, list[str]]:
        """A command run in a running container's namespaces, as its task (``runc exec``)."""
        argv = launch_argv(inside, _NoImage())
        env = [f"--env={name}={value}" for name, value in _command_variables(inside).items()]
        log_file = self._directory(key) / "exec.log"
        return self._runtime, [*self._runtime_prefix(log_file), "exec", *env, key, *argv]

    async def remove(self, key: str) -> None:
        """Delete the runtime's state and the root file system of an ended container (at
        once: neither needs the other)."""
        await asyncio.gather(self._delete_state(key), self._remove_rootfs(key))

    async def _delete_state(self, key: str) -> None:
        """``runc delete``: its state, and the cgroups it made in the other hierarchies."""
        process = await asyncio.create_subprocess_exec(
            self._runtime,
            "--root",
            str(self._runtime_state),
            "delete",
            "--force",
            key,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await process.wait()

    async def _remove_rootfs(self, key: str) -> None:
        try:
            await asyncio.to_thread(provisioner.remove_rootfs, self._directory(key))
        except (OSError, provisioner.ProvisionError) as error:
            log.error("container %s: cannot remove its root file system: %s", key, error)

    def start_failure(self, key: str) -> str | None:
        """Why runc could not start an ended container (an executable missing from the
        image...), from its log; None if it started it."""
        try:
            with open(self._directory(key) / RUNTIME_LOG, "rb") as log_file:
                log_file.seek(max(0, os.fstat(log_file.fileno()).st_size - LOG_TAIL))
                lines = log_file.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return None
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = entry.get("msg") if isinstance(entry, dict) else None
            if isinstance(message, str) and message.startswith(RUN_FAILED):
                return message.removeprefix(RUN_FAILED)
        return None

    def _directory(self, key: str) -> Path:
        return self._containers / key

    def _runtime_prefix(self, log_file: Path) -> list[str]:
        return [
            self._runtime,
            "--root",
            str(self._runtime_state),
            "--log",
            str(log_file),
            "--log-format",
            "json",
        ]

    def _environment(self, config: ContainerConfig, image: RuntimeConfig) -> dict[str, str]:
        """Mesos's order: the default PATH, the image's Env, then the agent's and the task's
        variables (the default PATH only where neither the image nor they set one)."""
        variables = {"PATH": command.DEFAULT_PATH, **image_environment(image.env)}
        own = command.environment(config)
        if not _sets_path(config):
            own.pop("PATH")
        variables.update(own)
        variables["MESOS_SANDBOX"] = self._sandbox_directory
        return variables

    def _binds(self, config: ContainerConfig) -> list[oci_bundle.BindMount]:
        sandbox = oci_bundle.BindMount(
            source=str(config.sandbox), destination=self._sandbox_directory
        )
        info = config.container_info
        volumes = info.volumes if info is not None else []
        return [sandbox, *(self._bind(volume, config.sandbox) for volume in volumes)]

    def _bind(self, volume: Volume, sandbox: Path) -> oci_bundle.BindMount:
        """A host volume (Mesos's ``volume/host_path`` and ``volume/sandbox_path``)."""
        source = volume.source
        if volume.host_path:
            host = volume.host_path
        elif source is not None and source.type is VolumeSourceType.HOST_PATH and source.host_path:
            host = source.host_path.path
        elif (
            source is not None
            and source.type is VolumeSourceType.SANDBOX_PATH
            and source.sandbox_path
        ):
            host = source.sandbox_path.path
            if posixpath.isabs(host):
                raise LaunchError(f"Volume sandbox_path '{host}' must be relative to the sandbox")
        else:
            kind = source.type.name if source is not None and source.type else "image"
            raise LaunchError(
                f"Volume '{volume.container_path}': {kind} volumes are not supported "
                "(host_path, HOST_PATH and SANDBOX_PATH are)"
            )
        return oci_bundle.BindMount(
            source=str(_host_source(host, sandbox)),
            destination=posixpath.normpath(
                posixpath.join(self._sandbox_directory, _no_parent(volume.container_path))
            ),
            read_only=volume.mode is VolumeMode.RO,
        )


def _host_source(path: str, sandbox: Path) -> Path:
    """An absolute host path as it is; a relative one inside the sandbox, which it may not
    leave (a fetched archive could hold a link to anywhere)."""
    if posixpath.isabs(path):
        found = Path(path)
    else:
        found = Path(os.path.realpath(sandbox / _no_parent(path)))
        if not found.is_relative_to(os.path.realpath(sandbox)):
            raise LaunchError(f"Volume host_path '{path}' leaves the sandbox")
    if not found.exists():
        raise LaunchError(f"Volume host_path '{path}' does not exist")
    return found


def _no_parent(path: str) -> str:
    if ".." in path.split("/"):
        raise LaunchError(f"Volume path '{path}' must not contain '..'")
    return path


def _sets_path(config: ContainerConfig) -> bool:
    return "PATH" in config.environment or "PATH" in _command_variables(config.command)


def _command_variables(info: CommandInfo) -> dict[str, str]:
    return command.with_own_environment({}, info)


def remove_runtime_cgroups(agent_root: Path) -> None:
    """The agent's empty cgroups the runtime made in hierarchies the plugin does not use
    (``devices``, ``pids``...): it removes each container's, not their parents."""
    for mount in cgroups.own_cgroups():
        cgroups.remove([str(Path(mount) / agent_root)])
