"""Derive a marshmallow schema from each message dataclass, following Mesos's JSON rules.

The dataclass is the single definition of a message; this module reads its type hints
and builds the schema once per class:

* ``X | None`` is optional, a field without a default is required, a plain default is
  the proto ``[default=...]`` (always written on output), ``list[X]`` is repeated and
  ``dict[str, X]`` a proto map; ``Annotated[int, IntRange]`` carries integer bounds.
* Input: unknown keys are ignored, ``null`` means unset, numbers and booleans may come
  as JSON strings, doubles may be ``"Infinity"``/``"-Infinity"``, bytes are base64,
  enums are names; an unknown name unsets an optional enum and fails a required one.
  A field renamed between Mesos v0 and v1 (``slave_id`` to ``agent_id``) is read under
  either name (``metadata={"v0": "slave_id"}``).
* Output: ``None`` and empty repeated fields are left out; infinite doubles are written
  as the strings ``"Infinity"``/``"-Infinity"`` so the result stays valid JSON.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import enum
import math
import re
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import marshmallow as ma
from marshmallow import fields


@dataclasses.dataclass(frozen=True)
class IntRange:
    """The bounds of a proto integer type, attached with ``Annotated``."""

    name: str
    low: int
    high: int


Int32 = Annotated[int, IntRange("int32", -(2**31), 2**31 - 1)]
UInt32 = Annotated[int, IntRange("uint32", 0, 2**32 - 1)]
Int64 = Annotated[int, IntRange("int64", -(2**63), 2**63 - 1)]
UInt64 = Annotated[int, IntRange("uint64", 0, 2**64 - 1)]

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_COMMON_ERRORS: dict[str, Any] = {"required": "missing required field", "null": "must not be null"}


class _Integer(fields.Field[int]):
    """A proto integer: a JSON number or a string holding one, within ``bounds``."""

    default_error_messages = _COMMON_ERRORS

    def __init__(self, bounds: IntRange, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bounds = bounds

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        number = _as_integer(value)
        if number is None:
            raise ma.ValidationError("not a valid integer")
        if not self.bounds.low <= number <= self.bounds.high:
            raise ma.ValidationError(f"{number} is out of range for {self.bounds.name}")
        return number


def _as_integer(value: Any) -> int | None:
    """An integer from a JSON number or a string holding one; ``None`` if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        try:
            return int(value)
        except ValueError:  # more digits than Python converts: far out of any proto range
            return None
    return None


class _Double(fields.Field[float]):
    """A proto double: a number, a numeric string, or ``"Infinity"``/``"-Infinity"``."""

    default_error_messages = _COMMON_ERRORS

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        number = math.nan
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if math.isnan(number):
            raise ma.ValidationError("not a valid number")
        return number

    def _serialize(self, value: float | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is not None and math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value


class _Boolean(fields.Field[bool]):
    """A proto bool: ``true``/``false`` or the strings ``"true"``/``"false"``."""

    default_error_messages = _COMMON_ERRORS
    _TEXT = {"true": True, "false": False}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in self._TEXT:
            return self._TEXT[value]
        raise ma.ValidationError("not a valid boolean")


class _String(fields.Field[str]):
    """A proto string; other JSON types are rejected, not coerced."""

    default_error_messages = _COMMON_ERRORS

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ma.ValidationError("not a valid string")
        return value


class _Bytes(fields.Field[bytes]):
    """A proto bytes field, base64 in JSON."""

    default_error_messages = _COMMON_ERRORS

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str):
            raise ma.ValidationError("not a valid base64 string")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ma.ValidationError("not valid base64") from None

    def _serialize(self, value: bytes | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else base64.b64encode(value).decode("ascii")


class _EnumName(fields.Field[enum.Enum]):
    """A proto enum written by name; aliases (v0 names) are read too.

    An unknown name loads as ``None`` (field unset) unless the field is required.
    """

    default_error_messages = _COMMON_ERRORS

    def __init__(self, enum_class: type[enum.Enum], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum_class = enum_class

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ma.ValidationError("not a valid enum name")
        member = self.enum_class.__members__.get(value)
        if member is None and self.required:
            expected = ", ".join(m.name for m in self.enum_class)
            raise ma.ValidationError(f"unknown enum value {value!r} (expected one of {expected})")
        return member

    def _serialize(self, value: enum.Enum | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.name


class _Repeated(fields.List[Any]):
    """A repeated field; elements that load as ``None`` (unknown enum names) are dropped."""

    default_error_messages = {**_COMMON_ERRORS, "invalid": "not a valid list"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        items = super()._deserialize(value, attr, data, **kwargs)
        return [item for item in items if item is not None]


class _Map(fields.Field[dict[str, Any]]):
    """A proto ``map<string, X>``: a JSON object whose errors are reported per key."""

    default_error_messages = _COMMON_ERRORS

    def __init__(self, values: fields.Field[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values = values

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ma.ValidationError("not a valid object")
        result: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for key, item in value.items():
            try:
                result[key] = self.values.deserialize(item)
            except ma.ValidationError as error:
                errors[key] = error.messages
        if errors:
            raise ma.ValidationError(errors)
        return result

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return {key: self.values._serialize(item, key, value) for key, item in value.items()}


class _Message(fields.Nested):
    """A nested message, built lazily so messages may refer to themselves."""

    default_error_messages = _COMMON_ERRORS


class MessageSchema(ma.Schema):
    """Base of every generated schema: Mesos's input and output rules."""

    message_class: type[Any]
    v0_names: dict[str, str] = {}
    error_messages = {"type": "expected an object"}

    class Meta:
        unknown = ma.EXCLUDE

    @ma.pre_load
    def _drop_nulls_and_rename_v0(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        present = {key: value for key, value in data.items() if value is not None}
        for v1_name, v0_name in self.v0_names.items():
            if v1_name not in present and v0_name in present:
                present[v1_name] = present.pop(v0_name)
        return present

    @ma.post_load
    def _make_message(self, data: dict[str, Any], **kwargs: Any) -> Any:
        return self.message_class(**{k: v for k, v in data.items() if v is not None})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        value = super().get_attribute(obj, attr, default)
        return ma.missing if is_unset(value) else value


def is_unset(value: Any) -> bool:
    """Left out of the output: ``None`` and empty repeated fields and maps."""
    return value is None or (isinstance(value, list | dict) and not value)


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return args[0], True
    return hint, False


def field_for(hint: Any, **kwargs: Any) -> fields.Field[Any]:
    """The marshmallow field for one type hint (without ``| None``)."""
    origin = get_origin(hint)
    if origin is Annotated:
        base, *extras = get_args(hint)
        bounds = next(extra for extra in extras if isinstance(extra, IntRange))
        if base is not int:
            raise TypeError(f"IntRange annotates int, not {base!r}")
        return _Integer(bounds, **kwargs)
    if origin is list:
        (item,) = get_args(hint)
        return _Repeated(field_for(item), **kwargs)
    if origin is dict:
        key, value = get_args(hint)
        if key is not str:
            raise TypeError(f"map keys must be str, not {key!r}")
        return _Map(field_for(value), **kwargs)
    simple: dict[Any, Callable[..., fields.Field[Any]]] = {
        str: _String,
        bool: _Boolean,
        float: _Double,
        bytes: _Bytes,
    }
    if hint in simple:
        return simple[hint](**kwargs)
    if hint is int:
        raise TypeError("say which proto integer: Int32, UInt32, Int64 or UInt64")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _EnumName(hint, **kwargs)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        message_class = hint
        return _Message(lambda: schema_for(message_class), **kwargs)
    raise TypeError(f"no JSON mapping for {hint!r}")


def is_required(spec: dataclasses.Field[Any]) -> bool:
    """A dataclass field without any default is a required proto field."""
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


_SCHEMAS: dict[type[Any], MessageSchema] = {}


def schema_for(message_class: type[Any]) -> MessageSchema:
    """The schema of a message dataclass, built on first use."""
    if message_class not in _SCHEMAS:
        _SCHEMAS[message_class] = _build_schema(message_class)
    return _SCHEMAS[message_class]


def _build_schema(message_class: type[Any]) -> MessageSchema:
    hints = get_type_hints(message_class, include_extras=True)
    declared: dict[str, Any] = {}
    v0_names: dict[str, str] = {}
    for spec in dataclasses.fields(message_class):
        hint, _ = unwrap_optional(hints[spec.name])
        declared[spec.name] = field_for(hint, required=is_required(spec))
        if "v0" in spec.metadata:
            v0_names[spec.name] = spec.metadata["v0"]
    schema_class = type(
        f"{message_class.__name__}Schema",
        (MessageSchema,),
        {**declared, "message_class": message_class, "v0_names": v0_names},
    )
    return schema_class()  # type: ignore[no-any-return]
