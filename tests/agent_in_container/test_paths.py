"""How the agent finds its own container and turns its paths into host paths."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from docker import APIClient
from dockyard.containers import AgentContext, StartupError
from dockyard.flags import FlagSet
from dockyard_docker.agent_container import (
    ON_THE_HOST,
    PathMap,
    candidate_ids,
    find_own_container,
)
from dockyard_docker.plugin import DockerContainerizer
from dockyard_docker.run_config import host_path
from dockyard_docker.spec import SpecError

ID = "4f" * 32
OTHER_ID = "a1" * 32
MOUNTS = [
    {"Type": "bind", "Source": "/srv/dockyard", "Destination": "/var/lib/dockyard"},
    {"Type": "bind", "Source": "/disks/big", "Destination": "/var/lib/dockyard/slaves"},
    {"Type": "volume", "Source": "/var/lib/docker/volumes/v/_data", "Destination": "/data"},
    {"Type": "tmpfs", "Source": "", "Destination": "/scratch"},
    {"Type": "bind", "Source": "/run/docker.sock", "Destination": "/var/run/docker.sock"},
]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/var/lib/dockyard", "/srv/dockyard"),
        ("/var/lib/dockyard/meta/x", "/srv/dockyard/meta/x"),
        ("/var/lib/dockyard/slaves/a/runs/c", "/disks/big/a/runs/c"),  # the deepest mount
        ("/data/sandbox", "/var/lib/docker/volumes/v/_data/sandbox"),
        ("/var/lib/dockyardx/y", None),  # a prefix of the name is not a parent
        ("/scratch/sandbox", None),  # tmpfs: nothing on the host to mount
        ("/tmp/work", None),
    ],
)
def test_paths_map_through_the_deepest_mount(path: str, expected: str | None) -> None:
    found = PathMap.from_mounts(MOUNTS).to_host(PurePosixPath(path))
    assert found == (PurePosixPath(expected) if expected else None)


def test_on_the_host_every_path_is_its_own() -> None:
    assert host_path(Path("/tmp/w/sandbox"), ON_THE_HOST) == Path("/tmp/w/sandbox")


def test_a_sandbox_off_every_mount_is_a_launch_error() -> None:
    with pytest.raises(SpecError, match=r"/tmp/w is on no bind mount or volume"):
        host_path(Path("/tmp/w"), PathMap.from_mounts(MOUNTS))


def test_candidates_come_from_mounts_then_cgroups_then_hostname() -> None:
    mountinfo = (
        f"611 590 254:0 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4\n"
        f"612 590 254:0 /containers/{ID}/hostname /etc/hostname rw - ext4\n"
        f"613 590 254:0 /volumes/{OTHER_ID}/_data /data rw - ext4\n"
    )
    cgroup_v1 = f"12:memory:/docker/{OTHER_ID}\n11:cpu:/docker/{OTHER_ID}\n"
    cgroup_systemd = f"0::/system.slice/docker-{OTHER_ID}.scope\n"
    assert candidate_ids(mountinfo, cgroup_v1, "vm") == [ID, OTHER_ID, "vm"]
    assert candidate_ids("", cgroup_systemd, ID[:12]) == [OTHER_ID, ID[:12]]
    assert candidate_ids("", "0::/\n", "vm") == ["vm"]


@pytest.fixture
def docker_on_this_host(docker_api: APIClient) -> APIClient:
    if find_own_container(docker_api) is not None:
        pytest.skip("the tests run in a container of this Engine")
    return docker_api


async def test_the_flag_outside_a_container_stops_the_plugin_at_start(
    docker_on_this_host: APIClient, tmp_path: Path
) -> None:
    plugin = DockerContainerizer()
    flags = FlagSet()
    plugin.add_flags(flags)
    context = AgentContext(
        flags=flags.parse(["--docker_mesos_image=dockyard"], {}),
        agent_id="agent-in-container-test",
        work_dir=tmp_path,
        state_dir=tmp_path / "docker",
    )
    with pytest.raises(StartupError, match=r"--docker_mesos_image=dockyard says the agent runs"):
        await plugin.start(context)
    assert not context.state_dir.exists()  # nothing was started
