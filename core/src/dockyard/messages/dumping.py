"""Mesos JSON of a message, written by plain functions derived from its marshmallow schema.

The schema stays the one definition of a message's JSON: this module reads each
generated schema's fields once and composes functions that return exactly what
``schema.dump`` returns (``tests/messages/test_dumping.py`` compares both on
generated messages of every class). Every status update is dumped on the agent's
event loop, where marshmallow's generic per-field calls cost more than the rest
of the update's handling together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from dockyard.messages import mapping

Convert = Callable[[Any], Any]
Plan = list[tuple[str, str, Convert | None]]
"""``(attribute, JSON key, converter)`` per field, in the schema's order; None: as is."""

_PLANS: dict[type[Any], Plan] = {}


def dump(message: object) -> dict[str, Any]:
    """What ``schema_for(type(message)).dump(message)`` returns."""
    return _dump(message, _plan(type(message)))


def _dump(message: object, plan: Plan) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for attribute, key, convert in plan:
        value = getattr(message, attribute)
        # mapping.is_unset, inlined: a status update runs this for some 30 fields
        if value is None or (not value and isinstance(value, _REPEATED)):
            continue
        data[key] = value if convert is None else convert(value)
    return data


_REPEATED = (list, dict)


def _plan(message_class: type[Any]) -> Plan:
    plan = _PLANS.get(message_class)
    if plan is None:
        # Registered before it is filled, so that a message may contain itself.
        plan = _PLANS[message_class] = []
        try:
            plan.extend(_derive(mapping.schema_for(message_class)))
        except BaseException:
            del _PLANS[message_class]
            raise
    return plan


def _derive(schema: mapping.MessageSchema) -> Plan:
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        raise TypeError(f"{type(schema).__name__} has dump hooks that {__name__} does not run")
    return [
        (
            field.attribute or name,
            field.data_key or name,
            _converter(field),
        )
        for name, field in schema.dump_fields.items()
    ]


def _converter(field: fields.Field[Any]) -> Convert | None:
    """What ``field._serialize`` does to a set value, as a plain function."""
    if isinstance(field, fields.Nested):
        schema = field.schema
        assert isinstance(schema, mapping.MessageSchema)
        nested = _plan(schema.message_class)
        return lambda message: _dump(message, nested)
    if isinstance(field, fields.List):
        item = _converter(field.inner)
        return list if item is None else lambda items: [item(each) for each in items]
    if isinstance(field, mapping._Map):
        value = _converter(field.values)
        return dict if value is None else lambda items: {k: value(v) for k, v in items.items()}
    if type(field)._serialize is fields.Field._serialize:
        return None
    if isinstance(field, fields.Mapping | fields.Tuple):
        raise TypeError(f"{type(field).__name__} nests fields that {__name__} does not know")
    serialize = field._serialize  # a scalar's own rule (enum names, base64, "Infinity")
    return lambda value: serialize(value, None, None)
