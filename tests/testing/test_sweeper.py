"""Nothing a test started outlives pytest, even when its plugin loses track of it.

Each inner run is a pytest *process* (``runpytest_subprocess``) whose failing test leaves
a task its plugin has forgotten: once that pytest has exited, no process of the run may
remain (found by a marker in their environment or command line).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import TESTS
from tests.testing.inner import QUIET

pytest_plugins = ["pytester"]

KIT_TEST = """
import pytest
from dockyard.messages import TaskState
from tests.testing.backends import {backend}

pytest_plugins = ["dockyard.testing"]


@pytest.fixture
def dockyard_containerizers():
    return {{"lost": {backend}()}}


@pytest.fixture
def dockyard_timeout():
    return 3.0


@pytest.mark.asyncio
async def test_fails_with_a_task_running(dockyard_agent, make_task):
    command = "trap '' TERM; setsid sleep 1000 & sleep 1000"  # it ignores SIGTERM
    task = make_task(command, environment={{"MARKER": "{marker}"}})
    await dockyard_agent.launch(task)
    await dockyard_agent.wait_for_state(task.task_id, TaskState.TASK_RUNNING)
    assert False, "a test failing while its task runs"
"""

CONFORMANCE_TEST = """
import pytest
from dockyard.testing.conformance import ContainerizerConformance
from tests.testing.backends import {backend}


class TestLost(ContainerizerConformance):
    timeout = 3.0
    unsupported = {{"entry_point": "not installed"}}

    @pytest.fixture
    def entry_point_name(self):
        return "lost"

    @pytest.fixture
    def plugin_factory(self):
        return {backend}
"""


def agent_cgroups(run: Path) -> list[Path]:
    """The cgroups left of the agents of an inner run (``<hierarchy>/dockyard/<agent id>``)."""
    agents = [path.read_text().strip() for path in run.glob("**/work/meta/agent_id")]
    assert agents, f"no agent ran under {run}"
    mounts = [path for path in Path("/sys/fs/cgroup").glob("*") if path.is_dir()]
    return [
        path
        for agent in agents
        for mount in [Path("/sys/fs/cgroup"), *mounts]
        if (path := mount / "dockyard" / agent).exists()
    ]


def marked_processes(marker: str) -> list[int]:
    """Live processes with ``marker`` in their environment or command line."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            text = (proc / "environ").read_bytes() + (proc / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if marker.encode() in text:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("backend", ["ForgetsItsTasks", "NeverEscalates"])
def test_a_failing_kit_test_leaves_no_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS.parent))  # for tests.testing.backends
    marker = f"sweep-{uuid.uuid4().hex}"
    pytester.makepyfile(test_inner=KIT_TEST.format(backend=backend, marker=marker))
    result = pytester.runpytest_subprocess(*QUIET, "-o", "asyncio_mode=strict")
    result.assert_outcomes(failed=1)
    assert marked_processes(marker) == [], result.stdout.str()
    assert marked_processes(str(pytester.path)) == [], "no supervisor of the run is left"
    assert agent_cgroups(pytester.path) == [], "nor any of its cgroups"


def test_a_conformance_test_of_a_plugin_that_loses_tasks_leaves_no_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS.parent))
    pytester.makepyfile(test_inner=CONFORMANCE_TEST.format(backend="NeverEscalates"))
    result = pytester.runpytest_subprocess(*QUIET, "-k", "kill_forces or recover")
    result.assert_outcomes(failed=1, passed=1)
    assert marked_processes(str(pytester.path)) == [], result.stdout.str()
    assert agent_cgroups(pytester.path) == []
