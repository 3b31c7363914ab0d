"""The container-logger conformance suite against the built-in ``sandbox`` and ``logrotate``
loggers, delivered by the ``mesos`` containerizer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from dockyard.testing.conformance import LoggerConformance

pytest.importorskip("dockyard_mesos")

from tests.mesos.harness import clean_up


class MesosDelivered(LoggerConformance):
    timeout = 60.0

    @pytest.fixture(autouse=True)
    def no_leftovers(self, tmp_path: Path) -> Iterator[None]:
        """The supervisor outlives the agent by design: stop it, and any task, at the end."""
        yield
        work_dir = tmp_path / "work"
        agent_id = work_dir / "meta" / "agent_id"
        clean_up(work_dir, agent_id.read_text().strip() if agent_id.exists() else None)


class TestSandboxLogger(MesosDelivered):
    @pytest.fixture
    def logger_name(self) -> str:
        return "sandbox"


class TestLogrotateLogger(MesosDelivered):
    """Rotated at 64 KB, so the bursts and the restart cross many rotations."""

    @pytest.fixture
    def logger_name(self) -> str:
        return "logrotate"

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        return [
            "--logrotate_max_stdout_size=64KB",
            "--logrotate_max_stderr_size=64KB",
            "--logrotate_max_files=200",
        ]
