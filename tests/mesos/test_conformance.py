"""The containerizer conformance suite every dockyard backend runs, against ``mesos``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dockyard.testing.conformance import ContainerizerConformance

from tests.mesos.harness import clean_up


class TestMesosConformance(ContainerizerConformance):
    @pytest.fixture
    def entry_point_name(self) -> str:
        return "mesos"

    @pytest.fixture(autouse=True)
    def _clean_up_the_work_dir(self, tmp_path: Path) -> Iterator[None]:
        """The suite's agent runs on ``tmp_path/work``: stop what it leaves running."""
        yield
        clean_up(tmp_path / "work", agent_id=None)
