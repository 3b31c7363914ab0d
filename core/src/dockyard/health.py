"""Health checks of command tasks (``TaskInfo.health_check``), Mesos's semantics.

The first check runs after ``delay_seconds``, then one every ``interval_seconds``,
each bounded by ``timeout_seconds``. Until the first success, failures within
``grace_period_seconds`` of the start are ignored. A ``healthy=true`` update goes
out on the first success and on the first success after failures; every counted
failure sends ``healthy=false``; ``consecutive_failures`` of them kill the task.

COMMAND checks run inside the container through the containerizer's
``exec_in_container`` hook; HTTP and TCP checks are made by the agent to the
task's address (its container IP, else 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from dockyard.messages import CheckType, HealthCheck, IPProtocol, TaskStatus

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[bool]]
RunCommand = Callable[[timedelta], Awaitable[int | None]]


@dataclass
class HealthVerdicts:
    """Where a health checker reports: a health change, or the decision to kill."""

    changed: Callable[[bool], None]
    kill: Callable[[], None]
    """Start killing the task; must not wait for it (the checker stops right after)."""


def task_address(
    status: TaskStatus | None, protocol: IPProtocol, host_addresses: frozenset[str] = frozenset()
) -> str:
    """The IP the task listens on: its container's, else the loopback address.

    A task on the host network reports the agent's own address (``host_addresses``), as
    in Mesos; Mesos checks it at 127.0.0.1 in the task's network namespace, which for the
    host network is the host's loopback, so that is where it is checked here too.
    """
    if status is not None and status.container_status is not None:
        for network in status.container_status.network_infos:
            for address in network.ip_addresses:
                ip = address.ip_address
                if ip and address.protocol is protocol and ip not in host_addresses:
                    return ip
    return "::1" if protocol is IPProtocol.IPv6 else "127.0.0.1"


def http_probe(check: HealthCheck, host: str) -> Probe:
    assert check.http is not None
    http = check.http
    path = http.path or "/"
    authority = f"[{host}]" if ":" in host else host
    path = path if path.startswith("/") else f"/{path}"
    url = f"{http.scheme or 'http'}://{authority}:{http.port}{path}"

    async def probe() -> bool:
        async with aiohttp.ClientSession() as session, session.get(url, allow_redirects=False) as r:
            if http.statuses:
                return r.status in http.statuses
            return 200 <= r.status < 400

    return probe


def tcp_probe(check: HealthCheck, host: str) -> Probe:
    assert check.tcp is not None
    port = check.tcp.port

    async def probe() -> bool:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()
        return True

    return probe


def command_probe(check: HealthCheck, run: RunCommand) -> Probe:
    timeout = timedelta(seconds=check.timeout_seconds)

    async def probe() -> bool:
        status = await run(timeout)
        return status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

    return probe


async def check_health(check: HealthCheck, probe: Probe, verdicts: HealthVerdicts) -> None:
    """Run until cancelled or until the task is killed for failing its checks.

    Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives as the
    probe completes, and this loop would then go on after its task ended; the
    ``asyncio.timeout`` context does not.
    """
    started = time.monotonic()
    await asyncio.sleep(check.delay_seconds)
    initializing = True
    failures = 0
    healthy: bool | None = None
    while True:
        try:
            async with asyncio.timeout(check.timeout_seconds):  # not wait_for: see above
                passed = await probe()
        except (TimeoutError, OSError, aiohttp.ClientError) as error:
            log.debug("health check failed: %s", error)
            passed = False
        except Exception as error:  # e.g. the containerizer could not start the command
            log.warning("health check could not run: %s", error)
            passed = False
        if passed:
            initializing = False
            failures = 0
            if healthy is not True:
                healthy = True
                verdicts.changed(True)
        elif not (initializing and time.monotonic() - started < check.grace_period_seconds):
            failures += 1
            healthy = False
            verdicts.changed(False)
            if failures >= check.consecutive_failures:
                verdicts.kill()
                return
        await asyncio.sleep(check.interval_seconds)


def probe_for(
    check: HealthCheck,
    status: TaskStatus | None,
    run: RunCommand,
    host_addresses: frozenset[str] = frozenset(),
) -> Probe:
    if check.type is CheckType.HTTP:
        assert check.http is not None
        return http_probe(check, task_address(status, check.http.protocol, host_addresses))
    if check.type is CheckType.TCP:
        assert check.tcp is not None
        return tcp_probe(check, task_address(status, check.tcp.protocol, host_addresses))
    return command_probe(check, run)
