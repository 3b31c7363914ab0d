"""Each logger conformance check fails on a logger that breaks its behaviour (under pytester).

The built-in loggers pass the whole suite: see ``test_conformance_loggers.py``.
"""

from __future__ import annotations

import pytest

from tests.testing.inner import QUIET

pytest.importorskip("dockyard_mesos")

# Imported here, so that every inner run shares one copy of the classes the loggers
# return and the containerizer tests with isinstance (pytester drops what a run imports).
import dockyard_mesos.plugin  # noqa: F401

import tests.testing.broken_loggers  # noqa: F401

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from dockyard.testing.conformance import LoggerConformance
from tests.mesos.harness import clean_up
from tests.testing.broken_loggers import {logger}


class TestBroken(LoggerConformance):
    timeout = 30.0
    burst_bytes = 1 << 20
    unsupported = {{"entry_point": "not installed"}}

    @pytest.fixture(autouse=True)
    def no_leftovers(self, tmp_path):
        yield
        agent_id = tmp_path / "work" / "meta" / "agent_id"
        clean_up(tmp_path / "work", agent_id.read_text().strip() if agent_id.exists() else None)

    @pytest.fixture
    def logger_name(self):
        return "broken"

    @pytest.fixture
    def logger_factory(self):
        return {logger}
"""

BROKEN = [
    # (logger, the conformance test that must fail, a phrase its failure must show)
    ("StderrIntoStdout", "test_lines_arrive_whole_and_in_order_on_each_stream", "stdout: "),
    ("KeepsOneRotatedFile", "test_a_large_burst_on_both_streams_arrives_whole", "differ from"),
    ("OutsideTheSandbox", "test_files_are_served_by_the_files_api", "outside the sandbox"),
    ("MovesItsFiles", "test_gives_the_same_answer_twice", "AssertionError"),
    ("SocketWithoutReader", "test_nothing_is_lost_at_eof", "override read_output"),
]


@pytest.mark.parametrize(("logger", "check", "phrase"), BROKEN, ids=[row[0] for row in BROKEN])
def test_check_fails_on_a_logger_that_breaks_it(
    pytester: pytest.Pytester, logger: str, check: str, phrase: str
) -> None:
    pytester.makepyfile(test_broken=SUITE.format(logger=logger))
    result = pytester.runpytest(*QUIET, "-k", check)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    assert outcomes.get("passed", 0) == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"FAILED test_broken.py::TestBroken::{check}*"])
    assert phrase in result.stdout.str(), result.stdout.str()


def test_unknown_behaviour_names_are_refused() -> None:
    from dockyard.testing.conformance import LoggerConformance

    with pytest.raises(TypeError, match="unknown behaviour"):
        type("TestTypo", (LoggerConformance,), {"unsupported": {"restrat": "typo"}})
