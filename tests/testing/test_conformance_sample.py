"""The containerizer conformance suite against the sample plugin and its reference variant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dockyard.testing.conformance import ContainerizerConformance

from tests.conftest import SAMPLE_PLUGINS
from tests.testing.backends import ReferenceContainerizer, kill_survivors

NEED_MESOS_SANDBOX = {
    "test_sandbox_is_shared_through_mesos_sandbox",
    "test_command_environment_reaches_the_task",
    "test_agent_environment_reaches_the_task",
    "test_shell_command_runs_under_sh",
    "test_argv_command_is_not_interpreted",
    "test_kill_gives_the_grace_period",
    "test_kill_forces_a_task_ignoring_sigterm",
    "test_kill_hook_signals_a_running_container",
    "test_wait_may_be_called_concurrently_and_after_the_end",
    "test_concurrent_launches_do_not_interfere",
}


class TestSamplePlugin(ContainerizerConformance):
    """The sample plugin as installed through its entry point."""

    unsupported = {"recover": "the sample plugin forgets its processes when the agent stops"}
    timeout = 20.0

    @pytest.fixture(autouse=True)
    def installed(
        self, install_plugins: Callable[[Path], None], request: pytest.FixtureRequest
    ) -> None:
        install_plugins(SAMPLE_PLUGINS)
        if request.node.originalname in NEED_MESOS_SANDBOX:
            # Mesos's agent sets MESOS_SANDBOX for every executor; dockyard's core does
            # not yet, and the sample does not add it (reported to the lead).
            request.applymarker(pytest.mark.xfail(reason="MESOS_SANDBOX is not set"))

    @pytest.fixture
    def entry_point_name(self) -> str:
        return "sample"


class TestReferenceContainerizer(ContainerizerConformance):
    """The sample plus MESOS_SANDBOX and recovery: what the broken backends start from."""

    unsupported = {"entry_point": "a test double, installed under no entry point"}
    timeout = 20.0

    @pytest.fixture(autouse=True)
    def no_survivors(self) -> Iterator[None]:
        yield
        kill_survivors()

    @pytest.fixture
    def entry_point_name(self) -> str:
        return "reference"

    @pytest.fixture
    def plugin_factory(self) -> Callable[[], object]:
        return ReferenceContainerizer
