"""Hypothesis strategies for message dataclasses, derived from their type hints.

Nesting is cut off below ``MAX_DEPTH``: deeper optional fields stay unset and deeper
collections empty (required parts are still built). Every class is also tested as a
root, so each field is still exercised while examples stay small and fast.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from dockyard.messages.mapping import IntRange, unwrap_optional
from hypothesis import strategies as st

MAX_DEPTH = 2

_SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=6),
    bool: st.booleans(),
    float: st.floats(allow_nan=False),
    bytes: st.binary(max_size=6),
}


def messages(cls: type[Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Instances of a message dataclass with every field drawn from its type."""
    key = (cls, depth)
    if key not in _MESSAGES:
        hints = get_type_hints(cls, include_extras=True)
        _MESSAGES[key] = st.builds(
            cls,
            **{f.name: _field(hints[f.name], depth) for f in dataclasses.fields(cls)},
        )
    return _MESSAGES[key]


_MESSAGES: dict[tuple[type[Any], int], st.SearchStrategy[Any]] = {}


def _field(hint: Any, depth: int) -> st.SearchStrategy[Any]:
    base, optional = unwrap_optional(hint)
    if optional:
        return st.none() if depth >= MAX_DEPTH else st.none() | _value(base, depth)
    return _value(base, depth)


def _value(hint: Any, depth: int) -> st.SearchStrategy[Any]:
    origin = get_origin(hint)
    if origin is Annotated:
        bounds = next(arg for arg in get_args(hint)[1:] if isinstance(arg, IntRange))
        return st.integers(bounds.low, bounds.high)
    if origin in (list, dict) and depth >= MAX_DEPTH:
        return st.builds(origin)
    if origin is list:
        return st.lists(_field(get_args(hint)[0], depth), max_size=2)
    if origin is dict:
        return st.dictionaries(st.text(max_size=4), _field(get_args(hint)[1], depth), max_size=2)
    if hint in _SCALARS:
        return _SCALARS[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    return st.deferred(lambda: messages(hint, depth + 1))
