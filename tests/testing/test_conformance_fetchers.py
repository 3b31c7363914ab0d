"""The fetcher conformance suite: reference fetchers, the sample ``data`` fetcher, the
documented ``s3`` example, ``dockyard-fetcher``, and fetchers that each break one rule."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from dockyard.testing.conformance import FetchCase, FetcherConformance

from tests.conftest import SAMPLE_FETCHERS
from tests.testing.backends import LegacyLocalFileFetcher, LocalFileFetcher
from tests.testing.inner import QUIET

pytest_plugins = ["pytester"]

REFERENCE = Path(__file__).parents[2] / "docs" / "testing-plugins.md"
TUTORIAL = Path(__file__).parents[2] / "docs" / "writing-a-plugin.md"
needs_dockyard_fetcher = pytest.mark.skipif(
    importlib.util.find_spec("dockyard_fetcher") is None, reason="dockyard-fetcher not installed"
)


@pytest.fixture
def local_files(tmp_path: Path) -> list[FetchCase]:
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("first.txt", "second.txt"):
        (sources / name).write_text(f"{name}\n")
    return [
        FetchCase((sources / name).as_uri(), f"{name}\n".encode(), name)
        for name in ("first.txt", "second.txt")
    ]


class LocalFileCases:
    @pytest.fixture
    def fetcher_uris(self, local_files: list[FetchCase]) -> list[FetchCase]:
        return local_files

    @pytest.fixture
    def failing_uris(self, tmp_path: Path) -> list[str]:
        return [(tmp_path / "no-such-file").as_uri()]


class TestLocalFileFetcher(LocalFileCases, FetcherConformance):
    """The reference: passes everything; a test double, installed under no entry point."""

    unsupported = {"entry_point": "a test double, installed under no entry point"}

    @pytest.fixture
    def fetcher_name(self) -> str:
        return "local"

    @pytest.fixture
    def fetcher_factory(self) -> Callable[[], object]:
        return LocalFileFetcher


class TestLegacyFetcher(LocalFileCases, FetcherConformance):
    """A fetcher written for the old contract (no ``fetch_schemes``) still passes."""

    unsupported = {"entry_point": "a test double, installed under no entry point"}

    @pytest.fixture
    def fetcher_name(self) -> str:
        return "legacy"

    @pytest.fixture
    def fetcher_factory(self) -> Callable[[], object]:
        return LegacyLocalFileFetcher


@needs_dockyard_fetcher
class TestDockyardFetcher(LocalFileCases, FetcherConformance):
    @pytest.fixture
    def fetcher_name(self) -> str:
        return "fetcher"


class TestDataUriFetcher(FetcherConformance):
    """The sample third-party fetcher of ``data:`` URIs, installed through its entry point."""

    @pytest.fixture(autouse=True)
    def installed(self, install_plugins: Callable[[Path], None]) -> None:
        install_plugins(SAMPLE_FETCHERS)

    @pytest.fixture
    def fetcher_name(self) -> str:
        return "data"

    @pytest.fixture
    def fetcher_uris(self) -> list[FetchCase]:
        return [
            FetchCase("data:,hello%20world", b"hello world"),
            FetchCase("DATA:text/plain;charset=utf-8;base64,4pyTIGRvbmUK", "✓ done\n".encode()),
            FetchCase("data:application/octet-stream;base64,AAEC/w==", b"\x00\x01\x02\xff"),
        ]

    @pytest.fixture
    def failing_uris(self) -> list[str]:
        return ["data:text/plain;base64,not*base64", "data:no-comma", " data:;base64,QQ"]


def documented_example(document: Path, name: str) -> str:
    """A ``FetcherConformance`` example of the docs, verbatim."""
    marker = f"<!-- conformance example: {name} -->"
    match = re.search(re.escape(marker) + r"\n```python\n(.*?)```", document.read_text(), re.S)
    assert match, f"{document.name} lost its {name} conformance example"
    return match[1]


S3_CONFTEST = """
import pytest

@pytest.fixture
def bucket(tmp_path, monkeypatch):
    root = tmp_path / "s3"
    (root / "test-bucket" / "docs").mkdir(parents=True)
    (root / "test-bucket" / "hello.txt").write_bytes(b"hello\\n")
    (root / "test-bucket" / "docs" / "other.txt").write_bytes(b"other\\n")
    monkeypatch.setenv("DOCKYARD_FAKE_S3_ROOT", str(root))
    return "test-bucket"
"""


@needs_dockyard_fetcher
def test_the_documented_s3_example_passes(
    pytester: pytest.Pytester, install_plugins: Callable[[Path], None]
) -> None:
    """The docs' ``s3`` (a scheme handler of dockyard-fetcher) against an S3 stand-in."""
    install_plugins(SAMPLE_FETCHERS)
    pytester.makeconftest(S3_CONFTEST)
    pytester.makepyfile(test_s3=documented_example(REFERENCE, "s3"))
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=8)


def test_the_tutorial_data_fetcher_example_passes(
    pytester: pytest.Pytester, install_plugins: Callable[[Path], None]
) -> None:
    install_plugins(SAMPLE_FETCHERS)
    pytester.makepyfile(test_data=documented_example(TUTORIAL, "data"))
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=8)


SUITE = """
import pytest
from dockyard.testing.conformance import FetchCase, FetcherConformance
from tests.testing.backends import {backend}


class TestBroken(FetcherConformance):
    @pytest.fixture
    def fetcher_name(self):
        return "broken"

    @pytest.fixture
    def fetcher_factory(self):
        return {backend}

    @pytest.fixture
    def fetcher_uris(self, tmp_path):
        for name in ("a", "b"):
            (tmp_path / name).write_text(name)
        return [FetchCase((tmp_path / n).as_uri(), n.encode(), n) for n in ("a", "b")]

    @pytest.fixture
    def failing_uris(self, tmp_path):
        return [(tmp_path / "missing").as_uri()]
"""


@pytest.mark.parametrize(
    ("backend", "check", "phrase"),
    [
        ("NamesNoScheme", "test_its_uris_are_routed_to_it", "no fetcher takes file:"),
        ("TakesOtherSchemes", "test_other_schemes_go_to_other_fetchers", "of another fetcher"),
        ("FetchesInReverse", "test_the_later_of_two_uris_on_one_path_wins", "the later one"),
        ("IgnoresOutputFileDirectories", "test_output_file_places_it", "renamed"),
        ("VagueFetchError", "test_failure_names_the_uri", "must start with"),
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


@pytest.mark.parametrize(
    ("fixtures", "phrase"),
    [
        ("", "define a `fetcher_uris` fixture"),
        ("    unsupported = {'ordre': 'typo'}\n", "unknown behaviour(s) ['ordre']"),
    ],
)
def test_the_suite_says_what_is_missing(
    pytester: pytest.Pytester, fixtures: str, phrase: str
) -> None:
    pytester.makepyfile(
        test_incomplete=f"""
import pytest
from dockyard.testing.conformance import FetcherConformance


class TestIncomplete(FetcherConformance):
{fixtures}
    @pytest.fixture
    def fetcher_name(self):
        return "incomplete"
"""
    )
    result = pytester.runpytest(*QUIET, "-k", "routed")
    assert phrase in result.stdout.str(), result.stdout.str()


def test_unsupported_behaviours_are_skipped(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_skips=SUITE.format(backend="VagueFetchError")
        + "\n    unsupported = {'failure': 'it cannot tell'}\n"
    )
    result = pytester.runpytest(*QUIET, "-k", "test_failure_names_the_uri", "-rs")
    result.assert_outcomes(skipped=1)
    assert "failure unsupported: it cannot tell" in result.stdout.str()
