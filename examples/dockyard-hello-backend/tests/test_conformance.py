"""The standard containerizer behaviours, from dockyard's conformance suite."""

from collections.abc import Mapping

import pytest
from dockyard.testing.conformance import ContainerizerConformance


class TestHelloConformance(ContainerizerConformance):
    @pytest.fixture
    def entry_point_name(self) -> str:
        return "hello"

    @pytest.fixture
    def task_labels(self) -> Mapping[str, str]:
        return {"dockyard.backend": "hello"}  # the tasks it accepts
