"""``/metrics/snapshot`` (Mesos's flat JSON) and ``/metrics`` (Prometheus text).

Both render the same snapshot: the agent's task counts plus each enabled
plugin's own metrics (the ``metrics`` hook).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dockyard.agent import Agent
from dockyard.api.keys import AGENT
from dockyard.messages import Reason, TaskState
from dockyard.statuses import TERMINAL_STATES

log = logging.getLogger(__name__)

STARTED = time.monotonic()

COUNTED_STATES = (
    TaskState.TASK_STAGING,
    TaskState.TASK_STARTING,
    TaskState.TASK_RUNNING,
    TaskState.TASK_KILLING,
    TaskState.TASK_FINISHED,
    TaskState.TASK_FAILED,
    TaskState.TASK_KILLED,
    TaskState.TASK_LOST,
    TaskState.TASK_ERROR,
    TaskState.TASK_GONE,
)


def snapshot(agent: Agent) -> dict[str, float]:
    """Live tasks by state, and terminal states counted since the agent started."""
    live = Counter(record.state for record in agent.tasks() if not record.terminal)
    ended = agent.ledger.ended
    metrics: dict[str, float] = {
        f"slave/{state.name.lower().replace('task_', 'tasks_')}": float(
            ended[state] if state in TERMINAL_STATES else live[state]
        )
        for state in COUNTED_STATES
    }
    launch_errors = sum(
        1
        for record in agent.tasks()
        if record.latest_status is not None
        and record.latest_status.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    )
    metrics["slave/container_launch_errors"] = float(launch_errors)
    metrics["ledger/storage_failing"] = float(agent.ledger.failure is not None)
    metrics["ledger/held_updates"] = float(agent.ledger.held)
    gc = agent.sandbox_gc
    metrics["gc/path_removals_succeeded"] = float(gc.counters.succeeded)
    metrics["gc/path_removals_failed"] = float(gc.counters.failed)
    metrics["gc/path_removals_pending"] = float(gc.pending)
    metrics["slave/uptime_secs"] = time.monotonic() - STARTED
    metrics["slave/containers_running"] = float(len(agent.dispatcher.containers()))
    metrics["system/cpus_total"] = float(os.cpu_count() or 0)
    metrics["system/load_1min"], metrics["system/load_5min"], metrics["system/load_15min"] = (
        os.getloadavg()
    )
    for name in agent.enabled_plugins:
        try:
            metrics.update({key: float(value) for key, value in agent.host.metrics(name).items()})
        except Exception:
            log.exception("metrics of plugin %s", name)
    return metrics


async def metrics_snapshot(request: web.Request) -> web.Response:
    return web.json_response(snapshot(request.app[AGENT]))


def prometheus_name(key: str) -> str:
    return "dockyard_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


class SnapshotCollector(Collector):
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        for key, value in sorted(snapshot(self.agent).items()):
            yield GaugeMetricFamily(prometheus_name(key), f"Mesos metric {key}", value=value)


async def prometheus(request: web.Request) -> web.Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(request.app[AGENT]))
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
