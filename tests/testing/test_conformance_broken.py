"""Each conformance check fails on a backend that breaks its behaviour (run under pytester).

The backend they all derive from passes the whole suite: see ``test_conformance_sample.py``.
"""

from __future__ import annotations

import pytest

from tests.testing.inner import QUIET

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from dockyard.testing.conformance import ContainerizerConformance
from tests.testing.backends import {backend}


class TestBroken(ContainerizerConformance):
    timeout = 5.0
    unsupported = {unsupported!r}

    @pytest.fixture
    def entry_point_name(self):
        return {entry_point_name!r}

    @pytest.fixture
    def plugin_factory(self):
        return {backend}
"""

NOT_INSTALLED = {"entry_point": "not installed"}

BROKEN = [
    # (backend, the conformance test that must fail, a phrase its failure must show)
    ("ReferenceContainerizer", "test_entry_point_loads_the_plugin", "no entry point"),
    ("NoDestroy", "test_registers_with_the_required_hooks", "destroy"),
    ("RefusesEverything", "test_accepts_its_own_containers", "refused its own container"),
    ("AcceptsEverything", "test_refuses_a_foreign_container_info", "accepted a DOCKER"),
    ("OutputElsewhere", "test_launch_reports_statuses_and_output", "conformance-out"),
    ("AlwaysFailed", "test_exit_zero_finishes", "expected TASK_FINISHED, got TASK_FAILED"),
    ("RawExitCode", "test_non_zero_exit_fails_with_the_code", "expected message matching"),
    ("SignalAsSuccess", "test_death_by_signal_fails", "expected TASK_FAILED"),
    ("NoSandboxVariable", "test_sandbox_is_shared_through_mesos_sandbox", "nonexistent-sandbox"),
    ("DropsCommandEnvironment", "test_command_environment_reaches_the_task", "two words"),
    ("DropsAgentEnvironment", "test_agent_environment_reaches_the_task", "AssertionError"),
    ("NoShell", "test_shell_command_runs_under_sh", "FileNotFoundError"),
    ("ShellForArgv", "test_argv_command_is_not_interpreted", "expected TASK_FINISHED"),
    ("IgnoresGracePeriod", "test_kill_gives_the_grace_period", "SIGTERM handler"),
    ("NeverEscalates", "test_kill_forces_a_task_ignoring_sigterm", "did not complete"),
    ("SignalsNothing", "test_kill_hook_signals_a_running_container", "did not reach"),
    ("RaisesOnUnknown", "test_unknown_containers_are_not_an_error", "KeyError"),
    ("WaitsOnce", "test_wait_may_be_called_concurrently_and_after_the_end", "returned None"),
    ("NeverRecovers", "test_recover_after_an_agent_restart", "REASON_EXECUTOR_TERMINATED"),
    ("RacyLaunch", "test_concurrent_launches_do_not_interfere", "expected TASK_FINISHED"),
]


SLOW = {"NeverEscalates", "SignalsNothing"}  # they wait out the timeout


@pytest.mark.parametrize(
    ("backend", "check", "phrase"),
    [
        pytest.param(*row, id=row[0], marks=[pytest.mark.slow] if row[0] in SLOW else [])
        for row in BROKEN
    ],
)
def test_check_fails_on_a_backend_that_breaks_it(
    pytester: pytest.Pytester, backend: str, check: str, phrase: str
) -> None:
    entry_point_name = "not-installed" if check == "test_entry_point_loads_the_plugin" else "b"
    unsupported = {} if entry_point_name == "not-installed" else NOT_INSTALLED
    pytester.makepyfile(
        test_broken=SUITE.format(
            backend=backend, unsupported=unsupported, entry_point_name=entry_point_name
        )
    )
    result = pytester.runpytest(*QUIET, "-k", check)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    assert outcomes.get("passed", 0) == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"FAILED test_broken.py::TestBroken::{check}*"])
    assert phrase in result.stdout.str(), result.stdout.str()


def test_unknown_behaviour_names_are_refused() -> None:
    from dockyard.testing.conformance import ContainerizerConformance

    with pytest.raises(TypeError, match="unknown behaviour"):
        type("TestTypo", (ContainerizerConformance,), {"unsupported": {"recovr": "typo"}})
