"""Keys a message's schema does not know, found anywhere in a JSON body, with a did-you-mean.

Mesos ignores unknown keys (newer schedulers send fields older agents lack), and so does
:func:`dockyard.messages.load`; but a misspelled ``resorces`` then silently means "no
resources". This walks the parsed JSON beside the marshmallow schemas (the one source of
the known names, their v0 aliases included) and reports every unknown key by its JSON
path, e.g. ``task.resorces: unknown field (did you mean 'resources'?)``.

Only keys are reported, never values (a body may carry secrets). A hostile body may hold
any number of unknown keys, of any length: all are counted, but only the first
:data:`MAX_REPORTED` are described, each key cut to :data:`MAX_KEY_SHOWN` characters.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import fields

from dockyard.messages import load
from dockyard.messages.errors import JsonPath, MessageError, PathPart
from dockyard.messages.mapping import MessageSchema, schema_for

Message = TypeVar("Message")

MAX_REPORTED = 20
"""Unknown keys described one by one; the rest are only counted."""
MAX_KEY_SHOWN = 64
"""Characters of a key shown (and compared for a did-you-mean)."""

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_@$-]{1,64}")


@dataclass(frozen=True)
class UnknownField:
    path: JsonPath
    """Where the key is, the key last."""
    suggestion: str | None
    """A known field of the same object whose name is close to the key."""

    @property
    def reason(self) -> str:
        hint = f" (did you mean '{self.suggestion}'?)" if self.suggestion else ""
        return f"unknown field{hint}"

    def __str__(self) -> str:
        return f"{render_path(self.path)}: {self.reason}"


@dataclass(frozen=True)
class UnknownFields:
    """The first :data:`MAX_REPORTED` unknown keys of a body, and how many there were."""

    fields: tuple[UnknownField, ...] = ()
    total: int = 0

    def __bool__(self) -> bool:
        return self.total > 0

    def lines(self) -> list[str]:
        """One line per described key, then one that counts the rest."""
        described = [str(field) for field in self.fields]
        left = self.total - len(self.fields)
        if left:
            described.append(f"... and {left} more unknown field{'s' if left > 1 else ''}")
        return described

    def as_error(self, also: MessageError | None = None) -> MessageError:
        """A 400's error: these keys, after the other problems ``also`` found."""
        left = self.total - len(self.fields)
        problems = [(render_path(field.path), field.reason) for field in self.fields]
        if left:
            problems.append(("", f"and {left} more unknown field{'s' if left > 1 else ''}"))
        return MessageError([*(also.errors if also else []), *problems])


def load_checked(
    message_class: type[Message],
    data: Any,
    *,
    path: str,
    check: Callable[[Message], None],
    strict: bool,
) -> tuple[Message, UnknownFields]:
    """Load and ``check`` (:mod:`dockyard.validation`) a message, and find its unknown keys.

    ``strict`` (``--strict_json``) makes unknown keys errors; otherwise they are returned
    for the caller to warn about. A body refused for other problems has its unknown keys
    named after them, as a misspelled key is often the cause (``vaule`` for ``value``).
    """
    unknown = find_unknown_fields(message_class, data, path=path)
    try:
        message = load(message_class, data, path=path)
        check(message)
    except MessageError as error:
        if unknown:
            raise unknown.as_error(also=error) from None
        raise
    if strict and unknown:
        raise unknown.as_error()
    return message, unknown


def find_unknown_fields(message_class: type[Any], data: Any, *, path: str = "") -> UnknownFields:
    """The keys of ``data`` (parsed JSON of a ``message_class``) that no schema knows.

    Walks only where the schemas go: the values of known message, repeated-message and
    map-of-message fields; a value of the wrong JSON type is left to :func:`load`. An
    object without unknown keys costs a set comparison and a look-up per key, as this
    runs on every call.
    """
    found: list[UnknownField] = []
    total = 0
    root: JsonPath = (path,) if path else ()
    pending: list[tuple[type[Any], Any, JsonPath]] = [(message_class, data, root)]
    while pending:
        cls, node, at = pending.pop()
        if not isinstance(node, dict):
            continue
        shape = _shape(cls)
        if not shape.names.issuperset(node):
            for key in node:
                if key not in shape.names:
                    total += 1
                    if len(found) < MAX_REPORTED:
                        found.append(UnknownField((*at, key), shape.close_name(key)))
        below: list[tuple[type[Any], Any, JsonPath]] = []
        for key, value in node.items():
            held = shape.holders.get(key)
            if held is None or value is None:
                continue
            holds, inner = held
            if holds is _Holds.ONE:
                below.append((inner, value, (*at, key)))
            elif holds is _Holds.LIST and isinstance(value, list):
                below.extend((inner, item, (*at, key, i)) for i, item in enumerate(value))
            elif holds is _Holds.MAP and isinstance(value, dict):
                below.extend((inner, item, (*at, key, name)) for name, item in value.items())
        pending.extend(reversed(below))  # depth first, in the body's order
    return UnknownFields(tuple(found), total)


class _Holds(enum.Enum):
    ONE = "a message"
    LIST = "a list of messages"
    MAP = "a map of messages"


@dataclass(frozen=True)
class _Shape:
    """What :func:`find_unknown_fields` needs of one message's schema."""

    names: frozenset[str]
    """Every key the schema reads: its fields' names and their v0 aliases."""
    field_names: tuple[str, ...]
    holders: dict[str, tuple[_Holds, type[Any]]]
    """The keys (v1 and v0) whose values hold messages, and those messages' classes."""

    def close_name(self, key: str) -> str | None:
        if len(key) > MAX_KEY_SHOWN:
            return None
        close = difflib.get_close_matches(key, self.field_names, n=1, cutoff=0.75)
        return close[0] if close else None


_SHAPES: dict[type[Any], _Shape] = {}


def _shape(message_class: type[Any]) -> _Shape:
    shape = _SHAPES.get(message_class)
    if shape is None:
        shape = _SHAPES[message_class] = _build_shape(schema_for(message_class))
    return shape


def _build_shape(schema: MessageSchema) -> _Shape:
    aliases = {name: [name] for name in schema.fields}
    for v1_name, v0_name in schema.v0_names.items():
        aliases[v1_name].append(v0_name)
    holders: dict[str, tuple[_Holds, type[Any]]] = {}
    for name, field in schema.fields.items():
        held = _held_message(field)
        if held is not None:
            holders.update((alias, held) for alias in aliases[name])
    return _Shape(
        names=frozenset(alias for names in aliases.values() for alias in names),
        field_names=tuple(schema.fields),
        holders=holders,
    )


def _held_message(field: fields.Field[Any]) -> tuple[_Holds, type[Any]] | None:
    """Whether a field's value holds messages, how, and of which class."""
    if isinstance(field, fields.Nested):
        return _Holds.ONE, _nested_class(field)
    if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
        return _Holds.LIST, _nested_class(field.inner)
    values = getattr(field, "values", None)  # a proto map (mapping._Map)
    if isinstance(values, fields.Nested):
        return _Holds.MAP, _nested_class(values)
    return None


def _nested_class(field: fields.Nested) -> type[Any]:
    schema = field.schema
    assert isinstance(schema, MessageSchema), f"{field!r} nests a schema not made by mapping"
    return schema.message_class


def render_path(parts: JsonPath) -> str:
    """``task.command.environment.variables[0].vaule``; a key that is not a plain name
    is quoted as JSON (control characters escaped) and cut short, as in
    ``task["a b"]``, so one line stays one line."""
    text = ""
    for part in parts:
        text += _render_part(part, first=not text)
    return text


def _render_part(part: PathPart, *, first: bool) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if _PLAIN_KEY.fullmatch(part):
        return part if first else f".{part}"
    shown = json.dumps(part[:MAX_KEY_SHOWN]) + ("..." if len(part) > MAX_KEY_SHOWN else "")
    return f"[{shown}]"
