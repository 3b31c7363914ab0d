"""Health-check semantics (Mesos §3.7.2) with scripted probe results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from dockyard.health import HealthVerdicts, check_health, task_address
from dockyard.messages import (
    CheckType,
    ContainerStatus,
    HealthCheck,
    IPAddress,
    IPProtocol,
    NetworkInfo,
    TaskID,
    TaskState,
    TaskStatus,
)


def fast_check(**fields: object) -> HealthCheck:
    defaults: dict[str, object] = {
        "type": CheckType.TCP,
        "delay_seconds": 0.0,
        "interval_seconds": 0.001,
        "timeout_seconds": 1.0,
        "grace_period_seconds": 0.0,
        "consecutive_failures": 3,
    }
    return HealthCheck(**{**defaults, **fields})  # type: ignore[arg-type]


async def run(check: HealthCheck, results: list[bool]) -> tuple[list[bool], bool]:
    """Feed ``results`` to the checker; return the health updates and whether it killed."""
    outcomes: Iterator[bool] = iter(results)
    changes: list[bool] = []
    killed = asyncio.Event()

    async def probe() -> bool:
        try:
            return next(outcomes)
        except StopIteration:
            await asyncio.Event().wait()  # no more scripted results: hang until cancelled
            raise AssertionError("unreachable") from None

    verdicts = HealthVerdicts(changed=changes.append, kill=killed.set)
    checking = asyncio.create_task(check_health(check, probe, verdicts))
    await asyncio.sleep(0.2)
    checking.cancel()
    return changes, killed.is_set()


async def test_healthy_is_reported_once_then_again_after_failures() -> None:
    changes, killed = await run(fast_check(), [True, True, False, True, True])
    assert changes == [True, False, True]
    assert not killed


async def test_consecutive_failures_kill_the_task() -> None:
    changes, killed = await run(fast_check(consecutive_failures=3), [True, False, False, False])
    assert changes == [True, False, False, False]
    assert killed


async def test_a_success_resets_the_failure_count() -> None:
    changes, killed = await run(fast_check(consecutive_failures=2), [False, True, False, True])
    assert changes == [False, True, False, True]
    assert not killed


async def test_failures_during_the_grace_period_are_ignored_until_the_first_success() -> None:
    changes, killed = await run(fast_check(grace_period_seconds=60.0), [False, False, False, True])
    assert changes == [True]
    assert not killed


async def test_after_the_first_success_the_grace_period_no_longer_applies() -> None:
    check = fast_check(grace_period_seconds=60.0, consecutive_failures=2)
    changes, killed = await run(check, [True, False, False])
    assert changes == [True, False, False]
    assert killed


async def test_a_cancellation_arriving_as_a_probe_completes_ends_the_checks() -> None:
    """Python 3.11's asyncio.wait_for would swallow it, and the checks would go on
    after their task ended (or the agent stopped)."""
    probes = 0

    async def probe() -> bool:
        nonlocal probes
        probes += 1
        checking.cancel()  # lands while the probe's own task completes
        return True

    verdicts = HealthVerdicts(changed=lambda healthy: None, kill=lambda: None)
    checking = asyncio.create_task(check_health(fast_check(), probe, verdicts))
    async with asyncio.timeout(30):
        await asyncio.gather(checking, return_exceptions=True)
    assert checking.cancelled()
    assert probes == 1


def running_on(ip: str) -> TaskStatus:
    """A TASK_RUNNING whose container reports ``ip``."""
    return TaskStatus(
        task_id=TaskID(value="t"),
        state=TaskState.TASK_RUNNING,
        container_status=ContainerStatus(
            network_infos=[
                NetworkInfo(ip_addresses=[IPAddress(protocol=IPProtocol.IPv4, ip_address=ip)])
            ]
        ),
    )


def test_checks_target_the_container_ip_or_loopback() -> None:
    assert task_address(running_on("172.17.0.5"), IPProtocol.IPv4) == "172.17.0.5"
    assert task_address(None, IPProtocol.IPv4) == "127.0.0.1"
    assert task_address(None, IPProtocol.IPv6) == "::1"


def test_host_network_tasks_are_checked_at_loopback_not_at_the_agent_ip() -> None:
    host = running_on("10.0.0.7")
    assert task_address(host, IPProtocol.IPv4, frozenset({"10.0.0.7"})) == "127.0.0.1"
