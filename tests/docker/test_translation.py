"""Pure translation logic (no Engine): Mesos inputs → Engine API fields, and back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from dockyard.messages import (
    AllocationInfo,
    DockerNetwork,
    ExecutorID,
    ExecutorInfo,
    Label,
    Labels,
    Parameter,
    Reason,
    Scalar,
    TaskState,
)
from dockyard_docker import naming, outcome
from dockyard_docker.logs import Cursor, parse_timestamp
from dockyard_docker.parameters import apply_parameters, as_bool
from dockyard_docker.resources import MB, compute_limits
from dockyard_docker.run_config import RunContext, build_run_spec
from dockyard_docker.spec import RunSpec, SpecError

from tests.docker.configs import TEST_LABEL, TEST_LABEL_VALUE, scalar, task_config

CONTEXT = RunContext(
    agent_id="agent",
    sandbox_directory="/mnt/mesos/sandbox",
    default_dns=None,
    total_memory=1024 * MB,
)


def spec_of(**kwargs: Any) -> RunSpec:
    return build_run_spec(task_config(Path("/sandbox"), "img", "true", **kwargs), CONTEXT)


def test_task_containers_get_task_variables_and_three_mesos_ones_only() -> None:
    config = task_config(Path("/sandbox"), "img", "true", env={"A": "1"})
    config.environment = {"MESOS_DIRECTORY": "/host/path", "MESOS_TASK_ID": "t"}
    assert config.task_info is not None
    config.task_info.resources[0].allocation_info = AllocationInfo(role="web")
    env = build_run_spec(config, CONTEXT).environment
    assert env == {
        "A": "1",
        "MESOS_SANDBOX": "/mnt/mesos/sandbox",
        "MESOS_CONTAINER_NAME": naming.container_name("agent", config.container_id.value),
        "MESOS_ALLOCATION_ROLE": "web",
    }


def test_executor_containers_also_get_the_agent_variables_which_win() -> None:
    config = task_config(Path("/sandbox"), "img", "true", env={"MESOS_DIRECTORY": "mine"})
    config.task_info = None
    config.environment = {"MESOS_DIRECTORY": "/host/path"}
    assert build_run_spec(config, CONTEXT).environment["MESOS_DIRECTORY"] == "/host/path"


def test_task_labels_go_on_task_containers_and_executor_labels_on_executor_ones() -> None:
    config = task_config(Path("/sandbox"), "img", "true")
    assert build_run_spec(config, CONTEXT).labels[TEST_LABEL] == TEST_LABEL_VALUE
    config.executor_info = ExecutorInfo(
        executor_id=ExecutorID(value="ex"),
        labels=Labels(labels=[Label(key="team", value="infra"), Label(key="bare")]),
    )
    config.task_info = None
    labels = build_run_spec(config, CONTEXT).labels
    assert (labels["team"], labels["bare"]) == ("infra", "")
    assert TEST_LABEL not in labels
    assert labels[naming.AGENT_LABEL] == "agent", "ownership labels are still there"


def test_a_secret_reference_without_a_value_is_refused() -> None:
    from dockyard.messages import EnvironmentVariable, Secret, SecretReference, VariableType

    variable = EnvironmentVariable(
        name="TOKEN",
        type=VariableType.SECRET,
        secret=Secret(reference=SecretReference(name="vault/token")),
    )
    with pytest.raises(SpecError, match="'TOKEN'"):
        spec_of(variables=[variable])


@pytest.mark.parametrize(
    ("cpus", "mem", "limits", "expected"),
    [
        (1.0, 128.0, {}, dict(cpu_shares=1024, mem_limit=128 * MB)),
        (0.0001, None, {}, dict(cpu_shares=2)),
        (
            0.5,
            64.0,
            {"cpus": 0.005, "mem": math.inf},
            dict(
                cpu_shares=512,
                cpu_quota=1000,
                cpu_period=100_000,
                mem_reservation=64 * MB,
                oom_score_adj=938,
            ),
        ),
        (
            1.0,
            16.0,
            {"cpus": math.inf, "mem": 8.0},
            dict(cpu_shares=1024, mem_limit=32 * MB, mem_reservation=32 * MB),
        ),
    ],
)
def test_limits_formulas(cpus, mem, limits, expected) -> None:
    resources = [scalar("cpus", cpus)] + ([scalar("mem", mem)] if mem is not None else [])
    computed = compute_limits(resources, {k: Scalar(value=v) for k, v in limits.items()}, 1024 * MB)
    assert {k: v for k, v in vars(computed).items() if v is not None} == expected


@pytest.mark.parametrize(
    ("cpus", "limits", "quota"),
    [
        (0.5, {}, 50_000),  # the request, over a 100 ms period
        (0.001, {}, 1_000),  # Mesos's minimum quota: 1 ms
        (2.0, {"cpus": 0.5}, 50_000),  # a limit wins over the request
        (2.0, {"cpus": math.inf}, None),  # an infinite limit: no quota
    ],
)
def test_cgroups_enable_cfs_quotas_the_cpus_request(cpus, limits, quota) -> None:
    scalars = {k: Scalar(value=v) for k, v in limits.items()}
    computed = compute_limits([scalar("cpus", cpus)], scalars, 1024 * MB, enable_cfs=True)
    assert (computed.cpu_quota, computed.cpu_period) == (quota, quota and 100_000)
    assert compute_limits([scalar("cpus", cpus)], {}, 1024 * MB).cpu_quota is None, "off"


def test_first_network_parameter_overrides_the_mode_and_later_ones_are_joined() -> None:
    spec = spec_of(
        network=DockerNetwork.BRIDGE,
        parameters=[("network", "front"), ("net", "back"), ("dns-search", "x")],
    )
    assert spec.host["network_mode"] == "front"
    assert spec.extra_networks == ["back"]
    assert spec.host["dns_search"] == ["x"]


def test_publish_tmpfs_sysctl_and_log_options() -> None:
    spec = RunSpec(image="i", name="n")
    apply_parameters(
        spec,
        [
            Parameter(key="publish", value="127.0.0.1:8080:80/udp"),
            Parameter(key="p", value="90"),
            Parameter(key="tmpfs", value="/run:size=1m"),
            Parameter(key="sysctl", value="net.core.somaxconn=1024"),
            Parameter(key="log-driver", value="json-file"),
            Parameter(key="log-opt", value="max-size=1m"),
            Parameter(key="--cpus", value="1.5"),
        ],
    )
    assert spec.host["port_bindings"] == {"80/udp": [8080], "90/tcp": [None]}
    assert spec.exposed_ports == [(80, "udp"), (90, "tcp")]
    assert spec.host["tmpfs"] == {"/run": "size=1m"}
    assert spec.host["sysctls"] == {"net.core.somaxconn": "1024"}
    assert spec.host["log_config"]["Type"] == "json-file"
    assert spec.host["log_config"]["Config"] == {"max-size": "1m"}
    assert spec.host["nano_cpus"] == 1_500_000_000


@pytest.mark.parametrize("value", ["yes", "2", "on"])
def test_booleans_follow_go_parse_bool(value: str) -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        as_bool(value)
    assert as_bool("true")
    assert as_bool("1")
    assert not as_bool("False")


def test_ownership_needs_labels_and_name_together() -> None:
    labels = naming.ownership_labels("a1", "c1", "t1")
    assert naming.owned_container_id("a1", "/mesos-a1.c1", labels) == "c1"
    assert naming.owned_container_id("a2", "/mesos-a1.c1", labels) is None
    assert naming.owned_container_id("a1", "/mesos-a1.c2", labels) is None
    assert naming.owned_container_id("a1", "/mesos-a1.c1", {}) is None
    assert naming.owned_container_id("a1", "/mesos-malformed", None) is None


def test_termination_outcomes() -> None:
    oom = outcome.termination({"ExitCode": 137, "OOMKilled": True}, killed=False, oom_event=False)
    assert oom.reason == Reason.REASON_CONTAINER_LIMITATION_MEMORY
    assert oom.state == TaskState.TASK_FAILED
    survived = outcome.termination({"ExitCode": 0}, killed=False, oom_event=True)
    assert survived.state == TaskState.TASK_FINISHED
    assert survived.reason is None
    killed = outcome.termination({"ExitCode": 0}, killed=True, oom_event=False)
    assert killed.state == TaskState.TASK_KILLED


def test_inspect_data_hides_secret_values() -> None:
    inspect = {"Config": {"Env": ["A=1", "TOKEN=hunter2", "B=x=y"]}}
    hidden = outcome.redacted_inspect(inspect, {"TOKEN"})
    assert hidden["Config"]["Env"] == ["A=1", f"TOKEN={outcome.REDACTED}", "B=x=y"]
    assert inspect["Config"]["Env"][1] == "TOKEN=hunter2"


def test_engine_timestamps_keep_nanoseconds() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.000000002Z") == 1_000_000_002
    assert parse_timestamp("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_timestamp("1970-01-01T01:00:01+01:00") == 1_000_000_000
    cursor = Cursor(offset=3)
    cursor.advance(5)
    cursor.advance(5)
    assert (cursor.timestamp, cursor.count, cursor.offset) == (5, 2, 0)
    cursor.advance(7)
    assert (cursor.timestamp, cursor.count) == (7, 1)


def test_a_cursor_from_before_container_loggers_resumes_the_sandbox_file() -> None:
    legacy = {"timestamp": 5, "count": 2, "size": 40, "complete": False}
    assert Cursor.from_json(legacy) == Cursor(timestamp=5, count=2, sink={"size": 40})


def test_host_network_status_carries_the_agent_ip() -> None:
    from dockyard.messages import ContainerID

    host = {"HostConfig": {"NetworkMode": "host"}, "NetworkSettings": {"Networks": {}}}
    status = outcome.container_status(ContainerID(value="c"), host, None, "10.0.0.5")
    assert [a.ip_address for a in status.network_infos[0].ip_addresses] == ["10.0.0.5"]
    assert outcome.container_status(ContainerID(value="c"), host, None, None).network_infos == []
    bridged = {
        "HostConfig": {"NetworkMode": "bridge"},
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
    }
    status = outcome.container_status(ContainerID(value="c"), bridged, None, "10.0.0.5")
    assert [a.ip_address for a in status.network_infos[0].ip_addresses] == ["172.17.0.2"]
