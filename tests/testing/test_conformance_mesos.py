"""The containerizer conformance suite against the built-in ``mesos`` plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dockyard.testing.conformance import ContainerizerConformance

pytest.importorskip("dockyard_mesos")

from tests.mesos.harness import clean_up


class TestMesosContainerizer(ContainerizerConformance):
    timeout = 30.0

    @pytest.fixture(autouse=True)
    def no_leftovers(self, tmp_path: Path) -> Iterator[None]:
        """The supervisor outlives the agent by design: stop it, and any task, at the end."""
        yield
        work_dir = tmp_path / "work"
        agent_id = work_dir / "meta" / "agent_id"
        clean_up(work_dir, agent_id.read_text().strip() if agent_id.exists() else None)

    @pytest.fixture
    def entry_point_name(self) -> str:
        return "mesos"
