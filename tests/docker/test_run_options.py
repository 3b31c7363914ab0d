"""What reaches the Engine: limits, parameters, volumes, networks (checked with inspect)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from docker import APIClient
from docker.errors import APIError
from dockyard.containers import ContainerConfig, LaunchError
from dockyard.messages import (
    DockerNetwork,
    DockerVolume,
    NetworkInfo,
    PortMapping,
    TaskState,
    Volume,
    VolumeMode,
    VolumeSource,
    VolumeSourceType,
)
from dockyard_docker import naming

from tests.docker.configs import TEST_LABEL, TEST_LABEL_VALUE, ports, scalar, task_config
from tests.docker.registry import free_port
from tests.docker_engine import remove_containers

MB = 1024 * 1024


async def launch(plugin, config: ContainerConfig, api: APIClient) -> dict[str, Any]:
    await plugin.prepare(config)
    launched = await plugin.launch(config)
    inspect: dict[str, Any] = api.inspect_container(launched.handle["docker_id"])
    return inspect


async def test_cpu_and_memory_follow_the_mesos_formulas(agent, busybox_image, tmp_path, docker_api):
    config = task_config(
        tmp_path,
        busybox_image,
        "true",
        resources=[scalar("cpus", 1.5), scalar("mem", 64)],
        limits={"cpus": 2, "mem": 128},
    )
    host = (await launch(agent.plugin, config, docker_api))["HostConfig"]
    assert host["CpuShares"] == 1536
    assert host["CpuQuota"] == 200_000
    assert host["Memory"] == 128 * MB
    assert host["MemoryReservation"] == 64 * MB
    assert 0 < host["OomScoreAdj"] < 1000


async def test_memory_without_a_limit_is_the_request(agent, busybox_image, tmp_path, docker_api):
    config = task_config(
        tmp_path, busybox_image, "true", resources=[scalar("cpus", 0.001), scalar("mem", 8)]
    )
    host = (await launch(agent.plugin, config, docker_api))["HostConfig"]
    assert host["CpuShares"] == 2
    assert host["CpuQuota"] == 0
    assert host["Memory"] == 32 * MB  # never below Mesos's 32 MB minimum


async def test_parameters_map_onto_the_engine_api(agent, busybox_image, tmp_path, docker_api):
    config = task_config(
        tmp_path,
        busybox_image,
        "echo $FROM_PARAM; id -u; pwd",
        parameters=[
            ("label", "team=blue"),
            ("env", "FROM_PARAM=yes"),
            ("cap-add", "NET_ADMIN"),
            ("memory-swap", "-1"),
            ("ulimit", "nofile=1024:2048"),
            ("dns", "10.9.8.7"),
            ("user", "65534"),
            ("workdir", "/tmp"),
            ("privileged", "false"),
        ],
    )
    inspect = await launch(agent.plugin, config, docker_api)
    await agent.plugin.wait(config.container_id)
    host = inspect["HostConfig"]
    assert inspect["Config"]["Labels"]["team"] == "blue"
    assert host["CapAdd"] == ["NET_ADMIN"]
    assert host["MemorySwap"] == -1
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["Dns"] == ["10.9.8.7"]
    assert (tmp_path / "stdout").read_text() == "yes\n65534\n/tmp\n"


async def test_a_label_parameter_cannot_disown_the_container(
    agent, busybox_image, tmp_path, docker_api
):
    config = task_config(
        tmp_path, busybox_image, "true", parameters={"label": "dockyard.agent_id=someone-else"}
    )
    inspect = await launch(agent.plugin, config, docker_api)
    assert inspect["Config"]["Labels"]["dockyard.agent_id"] == agent.agent_id


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ({"no-such-option": "1"}, "Unsupported docker parameter 'no-such-option'"),
        ({"ulimit": "nofile=lots"}, "docker parameter 'ulimit'"),
        ({"privileged": "maybe"}, "docker parameter 'privileged'"),
        ({"memory-swap": "1zb"}, "docker parameter 'memory-swap'"),
    ],
)
async def test_bad_parameters_fail_the_launch_naming_the_key(
    agent, busybox_image, tmp_path, parameters, error
):
    config = task_config(tmp_path, busybox_image, "true", parameters=parameters)
    await agent.plugin.prepare(config)
    with pytest.raises(LaunchError, match=error):
        await agent.plugin.launch(config)


async def test_volumes_absolute_relative_read_only_and_named(
    agent, busybox_image, tmp_path, docker_api
):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data").write_text("host data\n")
    sandbox = tmp_path / "sandbox"
    (sandbox / "sub").mkdir(parents=True)
    volume_name = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    docker_api.create_volume(volume_name, labels={TEST_LABEL: TEST_LABEL_VALUE})
    try:
        config = task_config(
            sandbox,
            busybox_image,
            "cat /shared/data; cat $MESOS_SANDBOX/in-sandbox/data; echo rel > /inside/file; "
            "echo named > /named/file; cat /named/file; "
            "echo x > /shared/new 2>/dev/null || echo read-only",
            volumes=[
                Volume(mode=VolumeMode.RO, container_path="/shared", host_path=str(shared)),
                Volume(mode=VolumeMode.RW, container_path="/inside", host_path="sub"),
                Volume(mode=VolumeMode.RO, container_path="in-sandbox", host_path=str(shared)),
                Volume(
                    mode=VolumeMode.RW,
                    container_path="/named",
                    source=VolumeSource(
                        type=VolumeSourceType.DOCKER_VOLUME,
                        docker_volume=DockerVolume(name=volume_name),
                    ),
                ),
            ],
        )
        await agent.plugin.prepare(config)
        await agent.plugin.launch(config)
        termination = await agent.plugin.wait(config.container_id)
        assert termination is not None
        assert termination.state == TaskState.TASK_FINISHED
        assert (sandbox / "stdout").read_text() == "host data\nhost data\nnamed\nread-only\n"
        assert (sandbox / "sub" / "file").read_text() == "rel\n"
    finally:
        remove_containers(docker_api, f"{naming.AGENT_LABEL}={agent.agent_id}")
        with contextlib.suppress(APIError):
            docker_api.remove_volume(volume_name, force=True)


@pytest.mark.parametrize(
    ("volume", "error"),
    [
        (
            Volume(mode=VolumeMode.RW, container_path="rel", host_path="also-rel"),
            "Both host_path 'also-rel' and container_path 'rel' of a volume are relative",
        ),
        (Volume(mode=VolumeMode.RW, container_path="/x"), "Host path or volume source is required"),
    ],
)
async def test_bad_volumes_fail_the_launch(agent, busybox_image, tmp_path, volume, error):
    config = task_config(tmp_path, busybox_image, "true", volumes=[volume])
    await agent.plugin.prepare(config)
    with pytest.raises(LaunchError, match=error):
        await agent.plugin.launch(config)


async def test_bridge_port_mapping_is_reachable_from_the_host(
    agent, busybox_image, tmp_path, docker_api
):
    port = free_port()
    config = task_config(
        tmp_path,
        busybox_image,
        "echo hello > /www/index.html; exec httpd -f -p 8080 -h /www",
        network=DockerNetwork.BRIDGE,
        port_mappings=[PortMapping(host_port=port, container_port=8080, protocol="tcp")],
        resources=[scalar("cpus", 0.1), scalar("mem", 32), ports(port, port)],
    )
    await agent.plugin.prepare(config)
    launched = await agent.plugin.launch(config)
    assert launched.container_status is not None
    (network,) = launched.container_status.network_infos
    assert network.ip_addresses[0].ip_address

    def fetch() -> bytes | None:
        try:
            return bytes(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read())
        except OSError:
            return None

    bodies: list[bytes | None] = []

    async def answered() -> bool:
        bodies.append(await asyncio.to_thread(fetch))
        return bodies[-1] is not None

    for _ in range(200):
        if await answered():
            break
    assert bodies[-1] == b"hello\n"


@pytest.mark.parametrize(
    ("network", "mappings", "resources", "error"),
    [
        (
            DockerNetwork.HOST,
            [PortMapping(host_port=80, container_port=80)],
            [],
            "Port mappings are only supported for bridge and user-defined networks",
        ),
        (
            DockerNetwork.BRIDGE,
            [PortMapping(host_port=80, container_port=80)],
            [scalar("cpus", 0.1)],
            "Port mappings require port resources",
        ),
        (
            DockerNetwork.BRIDGE,
            [PortMapping(host_port=80, container_port=80)],
            [ports(31000, 31001)],
            r"Port \[80\] not included in resources",
        ),
        (DockerNetwork.USER, [], [], "No network info found in container info"),
    ],
)
async def test_network_errors(agent, busybox_image, tmp_path, network, mappings, resources, error):
    config = task_config(
        tmp_path,
        busybox_image,
        "true",
        network=network,
        port_mappings=mappings,
        resources=resources,
    )
    await agent.plugin.prepare(config)
    with pytest.raises(LaunchError, match=error):
        await agent.plugin.launch(config)


async def test_hostname_needs_a_non_host_network(agent, busybox_image, tmp_path, docker_api):
    config = task_config(tmp_path, busybox_image, "hostname")
    assert config.container_info is not None
    config.container_info.hostname = "inky"
    await agent.plugin.prepare(config)
    with pytest.raises(LaunchError, match="Unable to set hostname with host network mode"):
        await agent.plugin.launch(config)

    bridged = task_config(tmp_path / "b", busybox_image, "hostname", network=DockerNetwork.NONE)
    assert bridged.container_info is not None
    bridged.container_info.hostname = "inky"
    await agent.plugin.prepare(bridged)
    await agent.plugin.launch(bridged)
    await agent.plugin.wait(bridged.container_id)
    assert (tmp_path / "b" / "stdout").read_text() == "inky\n"


async def test_user_network_and_default_dns(agents, busybox_image, tmp_path, docker_api):
    name = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    docker_api.create_network(name, labels={TEST_LABEL: TEST_LABEL_VALUE})
    try:
        agent = await agents.start(
            '--default_container_dns={"docker": [{"network_mode": "USER", "network_name": "'
            + name
            + '", "dns": {"nameservers": ["10.1.2.3"], "search": ["example.org"]}}]}'
        )
        config = task_config(tmp_path, busybox_image, "true", network=DockerNetwork.USER)
        assert config.container_info is not None
        config.container_info.network_infos = [NetworkInfo(name=name)]
        inspect = await launch(agent.plugin, config, docker_api)
        await agent.plugin.wait(config.container_id)
        assert inspect["HostConfig"]["NetworkMode"] == name
        assert inspect["HostConfig"]["Dns"] == ["10.1.2.3"]
        assert inspect["HostConfig"]["DnsSearch"] == ["example.org"]
    finally:
        await agents.close()
        docker_api.remove_network(name)


def test_sandbox_directory_flag_moves_the_mount(tmp_path: Path) -> None:
    from dockyard_docker.run_config import RunContext, build_run_spec

    config = task_config(tmp_path, "img", "true")
    spec = build_run_spec(
        config,
        RunContext(agent_id="a", sandbox_directory="/sb", default_dns=None, total_memory=1 << 34),
    )
    assert spec.environment["MESOS_SANDBOX"] == "/sb"
    assert spec.host["binds"][-1] == f"{tmp_path}:/sb:rw"
