"""The containerizer conformance suite against the sample plugin and its reference variant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dockyard.testing.conformance import ContainerizerConformance

from tests.conftest import SAMPLE_PLUGINS
from tests.testing.backends import ReferenceContainerizer


class TestSamplePlugin(ContainerizerConformance):
    """The sample plugin as installed through its entry point."""

    timeout = 20.0

    @pytest.fixture(autouse=True)
    def installed(
        self, install_plugins: Callable[[Path], None], request: pytest.FixtureRequest
    ) -> None:
        install_plugins(SAMPLE_PLUGINS)

    @pytest.fixture
    def entry_point_name(self) -> str:
        return "sample"


class TestReferenceContainerizer(ContainerizerConformance):
    """dockyard's reference SubprocessContainerizer: what the broken backends start from."""

    unsupported = {"entry_point": "a test double, installed under no entry point"}
    timeout = 20.0

    @pytest.fixture
    def entry_point_name(self) -> str:
        return "reference"

    @pytest.fixture
    def plugin_factory(self) -> Callable[[], object]:
        return ReferenceContainerizer
