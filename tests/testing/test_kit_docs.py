"""The plugin-author docs cannot drift from the kit and the example they describe."""

from __future__ import annotations

import re
from pathlib import Path

import dockyard.testing
import pytest
from dockyard.testing import fixtures
from dockyard.testing.conformance import (
    BEHAVIOURS,
    FETCHER_BEHAVIOURS,
    ContainerizerConformance,
    FetcherConformance,
)

ROOT = Path(__file__).parents[2]
TUTORIAL = ROOT / "docs" / "writing-a-plugin.md"
REFERENCE = ROOT / "docs" / "testing-plugins.md"
EXAMPLE = ROOT / "examples" / "dockyard-hello-backend"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)```\n", re.DOTALL)


def tutorial_files() -> list[tuple[str, str]]:
    return [(m["path"], m["body"]) for m in FILE_BLOCK.finditer(TUTORIAL.read_text())]


def test_the_tutorial_shows_the_whole_example() -> None:
    shown = {path for path, _ in tutorial_files()}
    assert shown == {
        "pyproject.toml",
        "src/dockyard_hello/__init__.py",
        "src/dockyard_hello/plugin.py",
        "tests/test_hello.py",
        "tests/test_conformance.py",
        "tests/test_recovery.py",
    }


@pytest.mark.parametrize(("path", "body"), tutorial_files(), ids=lambda v: v[:40])
def test_tutorial_file_matches_the_example(path: str, body: str) -> None:
    assert body == (EXAMPLE / path).read_text(), f"docs and {path} differ: update both"


SAMPLE_BLOCK = re.compile(r"<!-- sample: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)```\n", re.DOTALL)


def test_the_tutorial_fetcher_is_the_tested_sample() -> None:
    (shown,) = SAMPLE_BLOCK.finditer(TUTORIAL.read_text())
    assert shown["body"] == (ROOT / shown["path"]).read_text(), "update the docs and the sample"


def kit_names() -> list[str]:
    fixture_names = [name for name in vars(fixtures) if name.startswith(("dockyard_", "make_"))]
    tests = [
        name
        for suite in (ContainerizerConformance, FetcherConformance)
        for name in vars(suite)
        if name.startswith("test_")
    ]
    behaviours = {*BEHAVIOURS, *FETCHER_BEHAVIOURS}
    return sorted({*dockyard.testing.__all__, *fixture_names, *behaviours, *tests})


@pytest.mark.parametrize("name", kit_names())
def test_the_reference_documents(name: str) -> None:
    assert f"`{name}" in REFERENCE.read_text(), f"docs/testing-plugins.md does not mention {name}"
