"""The fetcher conformance suite: a reference fetcher, broken ones, and ``dockyard-fetcher``."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pytest
from dockyard.testing.conformance import FetcherConformance

from tests.testing.backends import LocalFileFetcher
from tests.testing.inner import QUIET

pytest_plugins = ["pytester"]


class TestLocalFileFetcher(FetcherConformance):
    """The reference: passes everything except the entry point (it has none)."""

    @pytest.fixture
    def fetcher_name(self) -> str:
        return "local"

    @pytest.fixture
    def fetcher_factory(self) -> Callable[[], object]:
        return LocalFileFetcher

    def test_entry_point_loads_the_plugin(
        self, fetcher_name: str, fetcher_factory: Callable[[], object]
    ) -> None:
        pytest.skip("a test double, installed under no entry point")


@pytest.mark.skipif(
    importlib.util.find_spec("dockyard_fetcher") is None, reason="dockyard-fetcher not installed"
)
class TestDockyardFetcher(FetcherConformance):
    @pytest.fixture
    def fetcher_name(self) -> str:
        return "fetcher"

    @pytest.fixture
    def unhandled_uri(self) -> None:
        """It takes every URI: an unknown scheme is its error to report."""
        return None


SUITE = """
import pytest
from dockyard.testing.conformance import FetcherConformance
from tests.testing.backends import {backend}


class TestBroken(FetcherConformance):
    @pytest.fixture
    def fetcher_name(self):
        return "broken"

    @pytest.fixture
    def fetcher_factory(self):
        return {backend}
"""


@pytest.mark.parametrize(
    ("backend", "check", "phrase"),
    [
        ("TakesEveryUri", "test_leaves_uris_it_does_not_handle", "Failed to fetch"),
        ("FetchesInReverse", "test_fetches_files_into_the_sandbox_in_order", "the later one"),
        ("VagueFetchError", "test_missing_file_fails_with_the_uri", "file not found"),
        ("LocalFileFetcher", "test_entry_point_loads_the_plugin", "no entry point"),
    ],
)
def test_check_fails_on_a_fetcher_that_breaks_it(
    pytester: pytest.Pytester, backend: str, check: str, phrase: str
) -> None:
    pytester.makepyfile(test_broken=SUITE.format(backend=backend))
    result = pytester.runpytest(*QUIET, "-k", check)
    result.assert_outcomes(failed=1)
    assert phrase in result.stdout.str(), result.stdout.str()
