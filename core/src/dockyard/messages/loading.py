"""Messages read from parsed JSON by plain functions derived from their marshmallow schemas.

The schema stays the one definition of a message's JSON, and the judge of bad input:
this module reads each generated schema's fields once and composes functions that take
the plainly valid input fast (what every launch, status update and ledger read is) and
give up on anything else (:class:`Refused`), which the caller then loads with the
schema, to get the same result or the error naming the field. Every ``LAUNCH_TASK``
passes here on the agent's event loop, where marshmallow's per-field machinery cost a
launch more than its validation and unknown-field check together.
``tests/messages/test_loading.py`` checks, on generated messages and on broken variants
of them, that whatever this returns is what the schema returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError, fields
from marshmallow.decorators import POST_LOAD, PRE_LOAD

from dockyard.messages import mapping

Convert = Callable[[Any], Any]
Plan = list[tuple[str, Convert]]
"""``(key, converter)`` per field, in the schema's order (keys are attribute names)."""


class Refused(Exception):
    """Not plainly valid input: the schema decides what it is."""


_LOADERS: dict[type[Any], _Loader] = {}
EXPECTED_HOOKS = {
    PRE_LOAD: ["_drop_nulls_and_rename_v0"],
    POST_LOAD: ["_make_message"],
}
"""MessageSchema's own hooks, which :class:`_Loader` does itself; any other is refused."""


def load(message_class: type[Any], data: Any) -> Any:
    """What ``schema_for(message_class).load(data)`` returns, or :class:`Refused`."""
    try:
        return _loader(message_class)(data)
    except (ValidationError, ValueError, TypeError) as error:
        raise Refused from error


class _Loader:
    """MessageSchema's load: nulls dropped, v0 names read, each present field converted.
    A required field left out fails the dataclass's constructor (TypeError): refused."""

    def __init__(self, schema: mapping.MessageSchema) -> None:
        self.schema = schema
        self.plan: Plan = []

    def __call__(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise Refused
        present = {key: value for key, value in data.items() if value is not None}
        for v1_name, v0_name in self.schema.v0_names.items():  # MessageSchema's pre_load
            if v1_name not in present and v0_name in present:
                present[v1_name] = present.pop(v0_name)
        values = {}
        for key, convert in self.plan:
            if key in present:
                value = convert(present[key])
                if value is not None:  # MessageSchema's post_load drops what loads as None
                    values[key] = value
        return self.schema.message_class(**values)


def _loader(message_class: type[Any]) -> _Loader:
    loader = _LOADERS.get(message_class)
    if loader is None:
        # Registered before it is derived, so that a message may contain itself.
        loader = _LOADERS[message_class] = _Loader(mapping.schema_for(message_class))
        try:
            loader.plan.extend(_derive(loader.schema))
        except BaseException:
            del _LOADERS[message_class]
            raise
    return loader


def _derive(schema: mapping.MessageSchema) -> Plan:
    hooks = {tag: [name for name, *_ in found] for tag, found in schema._hooks.items() if found}
    if hooks != EXPECTED_HOOKS:
        raise TypeError(f"{type(schema).__name__} has load hooks that {__name__} does not run")
    plan = []
    for name, field in schema.load_fields.items():
        if (field.data_key or name) != name or (field.attribute or name) != name:
            raise TypeError(f"{type(schema).__name__}.{name} is renamed; {__name__} cannot")
        plan.append((name, _converter(field)))
    return plan


def _converter(field: fields.Field[Any]) -> Convert:
    """What ``field.deserialize`` does to a present, non-null value, as a plain function."""
    if field.validators or field.pre_load or field.post_load:
        raise TypeError(f"{type(field).__name__} has validators that {__name__} does not run")
    if isinstance(field, fields.Nested):
        schema = field.schema
        assert isinstance(schema, mapping.MessageSchema)
        return _loader(schema.message_class)
    if isinstance(field, mapping._Repeated):
        item = _converter(field.inner)
        return lambda items: _repeated(items, item)
    if isinstance(field, mapping._Map):
        value = _converter(field.values)
        return lambda items: _map(items, value)
    if isinstance(field, mapping._String):
        return _string
    deserialize = field._deserialize  # a scalar's own rule (numbers from text, base64, enums)
    return lambda value: deserialize(value, None, None)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise Refused
    return value


def _repeated(items: Any, item: Convert) -> list[Any]:
    if type(items) is not list:
        raise Refused
    loaded = []
    for each in items:
        if each is None:
            raise Refused
        value = item(each)
        if value is not None:  # an unknown enum name in a list is dropped
            loaded.append(value)
    return loaded


def _map(items: Any, value: Convert) -> dict[str, Any]:
    if not isinstance(items, Mapping):
        raise Refused
    loaded = {}
    for key, each in items.items():
        if each is None:
            raise Refused
        loaded[key] = value(each)
    return loaded
