"""Mesos-style agent flags: one registry for the core's and every plugin's flags.

Syntax (as in Mesos, plus ``--name value``): ``--name=value``, ``--name value``,
booleans ``--name`` / ``--no-name`` / ``--name=false``; ``--`` ends the flags and
``-`` is a positional argument. Every flag can also come from ``DOCKYARD_<NAME>``
or ``MESOS_<NAME>``; the command line wins over ``DOCKYARD_``, which wins over
``MESOS_``, which wins over the default. JSON-valued flags take inline JSON or
``file:///abs/path``.

A plugin defines each flag once, at module level, with :func:`define`, which returns a
typed handle (``GREETING: Flag[str]``); its ``add_flags`` hook declares the handles
(:meth:`FlagSet.declare`) and it reads values through them (``GREETING.get(flags)``), so
mypy knows each value's type. ``FlagSet.add`` and ``flags.name`` still work, untyped.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from dockyard import units

T = TypeVar("T")
V = TypeVar("V")
D = TypeVar("D")

ENV_PREFIXES = ("DOCKYARD_", "MESOS_")
"""Environment prefixes that set flags, highest precedence first."""

FILE_SCHEME = "file://"
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class FlagError(ValueError):
    """A flag problem the user must fix; ``str()`` is the whole message."""


@dataclass(frozen=True, kw_only=True)
class FlagKind(Generic[T]):
    """How one type of flag value is read from text and written back (Mesos style)."""

    name: str
    """Shown in ``--help``, e.g. ``duration``."""
    metavar: str
    """The placeholder in ``--name=METAVAR``."""
    value_type: type[Any] | tuple[type[Any], ...]
    """What a non-text default must be an instance of."""
    parse: Callable[[str, str], T]
    """``parse(text, "--name")``; raises ValueError with the reason, or a complete FlagError."""
    render: Callable[[T], str]
    switch: bool = False
    """A boolean: ``--name`` alone sets it and ``--no-name`` clears it."""

    def accepts(self, value: object) -> bool:
        """Whether ``value`` can be this kind's value (True is no integer here)."""
        if isinstance(value, bool) and self.value_type is not object:
            return self.value_type is bool
        return isinstance(value, self.value_type)

    def __repr__(self) -> str:
        return f"<flag kind {self.name}>"


def read_json(text: str) -> Any:
    """Inline JSON, or the JSON in ``file:///abs/path``."""
    if not text.startswith(FILE_SCHEME):
        try:
            return json.loads(text)
        except ValueError as error:
            raise ValueError(f"invalid JSON ({error})") from None
    path = Path(text.removeprefix(FILE_SCHEME))
    if not path.is_absolute():
        raise ValueError(f"'{text}' is not an absolute file URI (expected file:///abs/path)")
    try:
        content = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise ValueError(f"cannot read file '{path}': {reason}") from None
    try:
        return json.loads(content)
    except ValueError as error:
        raise ValueError(f"invalid JSON in file '{path}' ({error})") from None


def _parse_bool(text: str, flag: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"invalid boolean '{text}' (expected true or false)")
    return text == "true"


def _parse_int(text: str, flag: str) -> int:
    if not _INT.fullmatch(text):
        raise ValueError(f"invalid integer '{text}'")
    return int(text)


def _parse_float(text: str, flag: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"invalid number '{text}'")
    return float(text)


def _parse_string_list(text: str, flag: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        raise ValueError(f"empty entry in comma-separated list '{text}'")
    return items


def _parse_string_map(text: str, flag: str) -> dict[str, str]:
    value = read_json(text)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    not_strings = sorted(key for key, item in value.items() if not isinstance(item, str))
    if not_strings:
        raise ValueError(f"values must be strings, but not for: {', '.join(not_strings)}")
    return value


def _render_json(value: Any) -> str:
    return json.dumps(value)


STRING: FlagKind[str] = FlagKind(
    name="string", metavar="VALUE", value_type=str, parse=lambda text, flag: text, render=str
)
BOOL: FlagKind[bool] = FlagKind(
    name="bool",
    metavar="true|false",
    value_type=bool,
    parse=_parse_bool,
    render=lambda value: "true" if value else "false",
    switch=True,
)
INT: FlagKind[int] = FlagKind(
    name="integer", metavar="INT", value_type=int, parse=_parse_int, render=str
)
FLOAT: FlagKind[float] = FlagKind(
    name="number", metavar="NUMBER", value_type=(float, int), parse=_parse_float, render=repr
)
DURATION: FlagKind[timedelta] = FlagKind(
    name="duration",
    metavar="DURATION",
    value_type=timedelta,
    parse=lambda text, flag: units.parse_duration(text),
    render=units.format_duration,
)
BYTES: FlagKind[int] = FlagKind(
    name="byte size",
    metavar="BYTES",
    value_type=int,
    parse=lambda text, flag: units.parse_bytes(text),
    render=units.format_bytes,
)
JSON: FlagKind[Any] = FlagKind(
    name="JSON",
    metavar="JSON",
    value_type=object,
    parse=lambda text, flag: read_json(text),
    render=_render_json,
)
STRING_LIST: FlagKind[list[str]] = FlagKind(
    name="comma-separated list",
    metavar="A,B,...",
    value_type=list,
    parse=_parse_string_list,
    render=",".join,
)
STRING_MAP: FlagKind[dict[str, str]] = FlagKind(
    name="JSON object of strings",
    metavar="JSON",
    value_type=dict,
    parse=_parse_string_map,
    render=_render_json,
)


def choice(*values: str) -> FlagKind[str]:
    """A string that must be one of ``values``."""

    def parse(text: str, flag: str) -> str:
        if text not in values:
            raise ValueError(f"invalid value '{text}' (expected {' or '.join(values)})")
        return text

    return FlagKind(
        name=f"one of {', '.join(values)}",
        metavar="|".join(values),
        value_type=str,
        parse=parse,
        render=str,
    )


def message(cls: type[T]) -> FlagKind[T]:
    """A flag holding one :mod:`dockyard.messages` message, given as Mesos JSON."""

    def parse(text: str, flag: str) -> T:
        from dockyard.messages import MessageError, load  # the messages stack loads on use

        try:
            return load(cls, read_json(text), path=flag)
        except MessageError as error:
            raise FlagError(str(error)) from error

    def render(value: T) -> str:
        from dockyard.messages import dumps

        return dumps(value)

    return FlagKind(
        name=f"{cls.__name__} JSON", metavar="JSON", value_type=cls, parse=parse, render=render
    )


_REQUIRED: Any = object()
"""No ``undeclared`` value was passed to :meth:`Flag.get`."""


@dataclass(frozen=True, kw_only=True)
class Flag(Generic[V]):
    """One flag, and a typed handle on its value: ``V`` is what :meth:`get` returns.

    ``default`` None means unset unless given (``V`` then includes None). ``owner`` is
    the plugin that declared it, set by :meth:`FlagSet.declare`.
    """

    name: str
    kind: FlagKind[Any]
    default: Any
    help: str
    owner: str = ""
    secret: bool = False
    """Never shown by :meth:`Flags.as_dict` (e.g. credentials)."""

    @property
    def option(self) -> str:
        return f"--{self.name}"

    @overload
    def get(self, flags: Flags) -> V: ...

    @overload
    def get(self, flags: Flags, undeclared: D) -> V | D: ...

    def get(self, flags: Flags, undeclared: Any = _REQUIRED) -> Any:
        """This flag's value in ``flags``, typed.

        A registry that never declared the flag raises KeyError (naming close flags), or
        gives ``undeclared`` if passed: a plugin started with only its own flags, as in
        its unit tests, reads a core flag that way.
        """
        if undeclared is not _REQUIRED and self.name not in flags:
            return undeclared
        return flags[self.name]

    def parse(self, text: str) -> Any:
        """The value of ``text``, or a FlagError naming this flag."""
        try:
            return self.kind.parse(text, self.option)
        except FlagError:
            raise
        except ValueError as error:
            raise FlagError(f"{self.option}: {error}") from error

    def render(self, value: Any) -> str:
        return "(hidden)" if self.secret else self.kind.render(value)


@overload
def define(
    name: str, kind: FlagKind[T], *, default: None = None, help: str, secret: bool = False
) -> Flag[T | None]: ...


@overload
def define(
    name: str, kind: FlagKind[T], *, default: T | str, help: str, secret: bool = False
) -> Flag[T]: ...


def define(
    name: str, kind: FlagKind[Any], *, default: Any = None, help: str, secret: bool = False
) -> Flag[Any]:
    """A flag for a plugin to declare in ``add_flags``, and to read its value with.

    A str default is read like command-line text (``"6hrs"``); without a default the
    value is None unless given, and the handle's type says so (``Flag[str | None]``).
    """
    return _new_flag(name, kind, default=default, help=help, secret=secret, owner="")


def _new_flag(
    name: str, kind: FlagKind[Any], *, default: Any, help: str, secret: bool, owner: str
) -> Flag[Any]:
    """A checked flag; errors name ``owner`` when it is known (``FlagSet.add``)."""
    if not _NAME.fullmatch(name) or name in _RESERVED:
        who = f"'{owner}' declares" if owner else "define():"
        raise FlagError(f"{who} an invalid flag name '{name}'")
    flag: Flag[Any] = Flag(name=name, kind=kind, default=None, help=help, secret=secret)
    return replace(flag, default=_default_value(flag, default, owner))


def _default_value(flag: Flag[Any], default: Any, owner: str) -> Any:
    where = f" from '{owner}'" if owner else ""
    if default is None:
        return None
    if isinstance(default, str) and flag.kind is not STRING:
        try:
            return flag.parse(default)
        except FlagError as error:
            raise FlagError(f"bad default{where}: {error}") from None
    if not flag.kind.accepts(default):
        raise FlagError(f"bad default{where}: {flag.option}: {default!r} is not a {flag.kind.name}")
    return default


class FlagSet:
    """The registry of declared flags. Views from :meth:`owned_by` share it.

    ``command`` is the ``dockyard`` command the flags are for (``agent``, ``launch``), or
    None: a flag may have a default that suits the command (what a one-shot ``launch``
    leaves behind, say).
    """

    def __init__(
        self,
        owner: str = "core",
        *,
        command: str | None = None,
        _shared: dict[str, Flag[Any]] | None = None,
    ) -> None:
        self._owner = owner
        self.command = command
        self._flags: dict[str, Flag[Any]] = {} if _shared is None else _shared

    def owned_by(self, owner: str) -> FlagSet:
        """A view on the same registry whose :meth:`add` records ``owner``."""
        return FlagSet(owner, command=self.command, _shared=self._flags)

    def add(
        self,
        name: str,
        kind: FlagKind[Any],
        *,
        default: Any = None,
        help: str,
        secret: bool = False,
    ) -> Flag[Any]:
        """Declare a flag in one step (untyped; see :func:`define` and :meth:`declare`).

        A str default is read like command-line text (``"6hrs"``).
        """
        flag = _new_flag(name, kind, default=default, help=help, secret=secret, owner=self._owner)
        self.declare(flag)
        return self._flags[name]

    def declare(self, *flags: Flag[Any]) -> None:
        """Declare flags made by :func:`define`, owned by this view's owner."""
        for flag in flags:
            if flag.name in self._flags:
                raise FlagError(
                    f"flag --{flag.name} is declared twice: by '{self._flags[flag.name].owner}' "
                    f"and by '{self._owner}'"
                )
            self._flags[flag.name] = replace(flag, owner=self._owner)

    def __iter__(self) -> Iterator[Flag[Any]]:
        return iter(self._flags.values())

    def __len__(self) -> int:
        return len(self._flags)

    def __contains__(self, name: object) -> bool:
        return name in self._flags

    def parse(self, argv: Sequence[str], environ: Mapping[str, str]) -> Flags:
        """Values from the command line, then the environment, then the defaults.

        Arguments that are not flags are kept, in order, in :attr:`Flags.positional`.
        """
        given, positional = self._parse_command_line(argv)
        values: dict[str, Any] = {}
        for flag in self:
            if flag.name in given:
                values[flag.name] = given[flag.name]
            else:
                values[flag.name] = self._from_environment(flag, environ)
        return Flags(values, self._flags, tuple(positional))

    def _parse_command_line(self, argv: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
        given: dict[str, Any] = {}
        positional: list[str] = []
        args = iter(argv)
        for arg in args:
            if arg == "--":
                positional.extend(args)
                break
            if arg == "-" or not arg.startswith("-"):
                positional.append(arg)
                continue
            option, has_value, text = arg.partition("=")
            flag, negated = self._lookup(option)
            if flag.name in given:
                raise FlagError(f"{flag.option} is given more than once")
            if negated:
                if has_value:
                    raise FlagError(f"{option} takes no value")
                given[flag.name] = False
            elif has_value:
                given[flag.name] = flag.parse(text)
            elif flag.kind.switch:
                given[flag.name] = True
            else:
                text = next(args, "--")
                if text.startswith("--"):
                    raise FlagError(f"{flag.option}: missing value (use {flag.option}=VALUE)")
                given[flag.name] = flag.parse(text)
        return given, positional

    def _lookup(self, option: str) -> tuple[Flag[Any], bool]:
        """The flag an option names, and whether it is the ``--no-`` form."""
        flags = self._flags
        name = option.removeprefix("--")
        if option.startswith("--") and name in flags:
            return flags[name], False
        negated = name.removeprefix("no-")
        if option.startswith("--no-") and negated in flags:
            if not flags[negated].kind.switch:
                raise FlagError(f"{option}: --{negated} is not a boolean flag")
            return flags[negated], True
        raise FlagError(self._unknown(option))

    def _unknown(self, option: str) -> str:
        candidates = [f"--{flag.name}" for flag in self]
        candidates += [f"--no-{flag.name}" for flag in self if flag.kind.switch]
        close = difflib.get_close_matches(option, candidates, n=3, cutoff=0.75)
        if close:
            return f"unknown flag '{option}'; did you mean {' or '.join(close)}?"
        return f"unknown flag '{option}' (the --help output lists every flag)"

    @staticmethod
    def _from_environment(flag: Flag[Any], environ: Mapping[str, str]) -> Any:
        for prefix in ENV_PREFIXES:
            variable = prefix + flag.name.upper()
            if variable in environ:
                try:
                    return flag.parse(environ[variable])
                except FlagError as error:
                    raise FlagError(f"{error} (from ${variable})") from error
        return copy.deepcopy(flag.default)

    def help(self, width: int = 100) -> str:
        """Every flag with its default, grouped by owner in declaration order."""
        owners: dict[str, list[Flag[Any]]] = {}
        for flag in self:
            owners.setdefault(flag.owner, []).append(flag)
        sections = []
        for owner, flags in owners.items():
            lines = [f"{owner} flags:"]
            for flag in flags:
                lines.append(f"  {_usage(flag)}")
                text = flag.help
                if flag.default is not None:
                    text += f" (default: {flag.render(flag.default)})"
                lines += textwrap.wrap(
                    text, width, initial_indent=_INDENT, subsequent_indent=_INDENT
                )
            sections.append("\n".join(lines))
        return "\n\n".join(sections)


_INDENT = " " * 6


def _usage(flag: Flag[Any]) -> str:
    if flag.kind.switch:
        return f"--[no-]{flag.name}"
    return f"{flag.option}={flag.kind.metavar}"


class Flags(Mapping[str, Any]):
    """Parsed flag values: ``flags.work_dir`` or ``flags["work_dir"]``; None = unset."""

    positional: tuple[str, ...]
    """Command-line arguments that are not flags, in order (e.g. ``TASK.json``, ``-``)."""

    def __init__(
        self, values: dict[str, Any], declared: Mapping[str, Flag[Any]], positional: tuple[str, ...]
    ) -> None:
        self._values = values
        self._declared = dict(declared)
        self.positional = positional

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(_unknown_name(name, self._values)) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(_unknown_name(name, self._values)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Flags({self.as_dict()!r}, positional={self.positional!r})"

    def as_dict(self) -> dict[str, str]:
        """Set flags rendered as Mesos shows them in GET_FLAGS (``6hrs``, ``2GB``, JSON)."""
        return {
            name: self._declared[name].render(value)
            for name, value in self._values.items()
            if value is not None
        }


def _unknown_name(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"no flag named '{name}'{hint}"


_RESERVED = frozenset(name for name in dir(Flags) if not name.startswith("_")) | {"positional"}
"""Names that would be shadowed by :class:`Flags` attributes."""
