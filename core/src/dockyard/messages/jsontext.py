"""JSON text from untrusted clients, parsed so that any bad input is a :class:`MessageError`.

``json.loads`` alone lets several inputs escape as other exceptions or as values that
fail later, far from the request: bytes that are not UTF-8, integers of more digits than
Python converts (``ValueError``), nesting deep enough for a ``RecursionError`` here or in
the schemas, and lone surrogates (``"\\ud800"``), valid JSON escapes that no file name,
log or UTF-8 encoder accepts. Each is reported here, with the JSON path where it can be.

:func:`compact` writes the agent's own JSON (ledger rows, events, API answers).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from dockyard import json_codec
from dockyard.messages.errors import JsonPath, MessageError

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects: Mesos's messages need about 20 levels."""


def compact(value: Any) -> str:
    """JSON text without spaces (:func:`dockyard.json_codec.dumps`)."""
    return json_codec.dumps(value).decode()


def parse_json(text: str | bytes, *, path: str = "") -> Any:
    """The value of JSON ``text`` (UTF-8 when bytes); ``path`` names the root in errors."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MessageError.at(
                path, f"not valid UTF-8 (byte {error.object[error.start]:#04x} at {error.start})"
            ) from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise MessageError.at(path, _TOO_DEEP) from None
    except json.JSONDecodeError as error:
        raise MessageError.at(path, f"not valid JSON ({error})") from None
    except ValueError:  # Python converts integers of at most this many digits
        raise MessageError.at(
            path, f"a number has more than {sys.get_int_max_str_digits()} digits"
        ) from None
    if _may_break_rules(text):
        _check_tree(value, path)
    return value


def _may_break_rules(text: str) -> bool:
    """Whether ``text`` can hold what :func:`_check_tree` looks for: a launch has a dozen
    brackets and no escape, and is not walked. Nesting needs an opening bracket per
    level; a lone surrogate, a ``\\u`` escape or one already in ``text`` (read with
    ``surrogateescape``, as stdin is under the C locale)."""
    if text.count("{") + text.count("[") >= MAX_DEPTH or "\\u" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


def _check_tree(value: Any, path: str) -> None:
    """Depth and lone surrogates, walked without recursion."""
    root: JsonPath = (path,) if path else ()
    pending: list[tuple[Any, JsonPath]] = [(value, root)]
    while pending:
        node, at = pending.pop()
        if isinstance(node, str):
            _check_text(node, at, "")
        elif isinstance(node, dict | list) and len(at) - len(root) >= MAX_DEPTH:
            raise MessageError.at(path, _TOO_DEEP)
        elif isinstance(node, dict):
            for key, child in node.items():
                _check_text(key, at, "an object key ")
                pending.append((child, (*at, key)))
        elif isinstance(node, list):
            pending.extend((child, (*at, index)) for index, child in enumerate(node))


def _check_text(text: str, at: JsonPath, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        lone = ascii(text[error.start])[1:-1]
        raise MessageError.from_problems(
            [(at, f"{what}contains a lone surrogate ({lone}), which is not valid Unicode")]
        ) from None
