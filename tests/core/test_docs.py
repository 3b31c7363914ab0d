"""docs/plugins.md documents every hook with its exact signature (datasette's guard)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from dockyard import hookspecs

DOCS = Path(__file__).parents[2] / "docs" / "plugins.md"

HOOKS = sorted(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, "dockyard_spec")
)


def signature_of(name: str) -> str:
    return name + str(inspect.signature(getattr(hookspecs, name))).replace("'", "")


def test_the_expected_hooks_exist() -> None:
    assert {"fetch", "prepare", "launch", "destroy", "recover"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook: str) -> None:
    text = DOCS.read_text()
    assert f"### `{hook}`" in text, f"docs/plugins.md has no section for {hook}"
    assert f"`{signature_of(hook)}`" in text, f"docs/plugins.md shows another signature for {hook}"
