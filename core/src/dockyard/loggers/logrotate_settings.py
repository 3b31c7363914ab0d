"""The ``logrotate`` logger's settings: agent flags, and a task's overrides of them.

Mesos's LogrotateContainerLogger takes a maximum size per stream and free-form
``logrotate`` options; a task overrides them through ``CONTAINER_LOGGER_``-prefixed
variables of its command's environment. dockyard rotates by itself (no ``logrotate``
binary, no helper process), so of logrotate's directives it honours ``rotate N`` (how many
rotated files to keep) and accepts a few that change nothing here; any other is refused
by name rather than silently ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from dockyard import units
from dockyard.containers import Rotation
from dockyard.flags import BYTES, INT, STRING, Flags, FlagSet, define
from dockyard.messages import CommandInfo, VariableType

STREAMS = ("stdout", "stderr")
DEFAULT_MAX_SIZE = "10MB"
DEFAULT_MAX_FILES = 9
"""Rotated files kept per stream: DC/OS's ``rotate 9``. (logrotate's own default, 0,
would delete each file as soon as it is rotated.)"""
ENVIRONMENT_PREFIX = "CONTAINER_LOGGER_"
NO_OP_DIRECTIVES = frozenset(
    {"missingok", "nomissingok", "notifempty", "ifempty", "nocompress", "copytruncate"}
)
"""Accepted for compatibility; each describes what dockyard does anyway, or cannot apply
(output is never lost while rotating, files are never compressed)."""
SIZE_DIRECTIVE = "size"
"""Overridden by the maximum size, as in Mesos."""


class SettingsError(ValueError):
    """A setting is invalid; the message names where it comes from and why."""


@dataclass(frozen=True)
class StreamSettings:
    max_size: int
    max_files: int

    def rotation(self) -> Rotation:
        return Rotation(max_size=self.max_size, max_files=self.max_files)


@dataclass(frozen=True)
class LogrotateSettings:
    stdout: StreamSettings
    stderr: StreamSettings

    @classmethod
    def from_flags(cls, flags: Flags) -> LogrotateSettings:
        default_files = MAX_FILES.get(flags)
        if default_files < 0:
            raise SettingsError(f"{MAX_FILES.option}: must not be negative")
        streams = {}
        for stream in STREAMS:
            size = _checked_size(MAX_SIZE[stream].get(flags), MAX_SIZE[stream].option)
            options = OPTIONS[stream].get(flags)
            files = default_files
            if options is not None:
                files = _rotate_count(options, OPTIONS[stream].option, default_files)
            streams[stream] = StreamSettings(size, files)
        return cls(**streams)

    def for_command(self, command: CommandInfo) -> LogrotateSettings:
        """These settings with a task's ``CONTAINER_LOGGER_*`` overrides applied."""
        overrides = _prefixed_variables(command)
        known = {f"{ENVIRONMENT_PREFIX}{name}" for name in _OVERRIDES}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SettingsError(
                f"unknown container logger setting(s) {', '.join(unknown)} in the environment "
                f"(logrotate reads {', '.join(sorted(known))})"
            )
        streams = {"stdout": self.stdout, "stderr": self.stderr}
        for stream in STREAMS:
            settings = streams[stream]
            size_name = f"{ENVIRONMENT_PREFIX}MAX_{stream.upper()}_SIZE"
            if size_name in overrides:
                try:
                    size = units.parse_bytes(overrides[size_name])
                except ValueError as error:
                    raise SettingsError(f"{size_name}: {error}") from None
                settings = replace(settings, max_size=_checked_size(size, size_name))
            options_name = f"{ENVIRONMENT_PREFIX}LOGROTATE_{stream.upper()}_OPTIONS"
            if options_name in overrides:
                count = _rotate_count(overrides[options_name], options_name, settings.max_files)
                settings = replace(settings, max_files=count)
            streams[stream] = settings
        return LogrotateSettings(**streams)


_OVERRIDES = (
    "MAX_STDOUT_SIZE",
    "MAX_STDERR_SIZE",
    "LOGROTATE_STDOUT_OPTIONS",
    "LOGROTATE_STDERR_OPTIONS",
)


MAX_SIZE = {
    stream: define(
        f"logrotate_max_{stream}_size",
        BYTES,
        default=DEFAULT_MAX_SIZE,
        help=f"logrotate logger: size at which the sandbox's {stream} is rotated to "
        f"{stream}.1 (at least one memory page). A task overrides it with "
        f"{ENVIRONMENT_PREFIX}MAX_{stream.upper()}_SIZE in its environment.",
    )
    for stream in STREAMS
}
OPTIONS = {
    stream: define(
        f"logrotate_{stream}_options",
        STRING,
        help=f"logrotate logger: logrotate directives for {stream}, one per line or "
        "separated by ';'. 'rotate N' keeps N rotated files; missingok, notifempty, "
        "ifempty, nocompress, copytruncate and size are accepted and change nothing; "
        f"others are refused. A task overrides it with "
        f"{ENVIRONMENT_PREFIX}LOGROTATE_{stream.upper()}_OPTIONS.",
    )
    for stream in STREAMS
}
MAX_FILES = define(
    "logrotate_max_files",
    INT,
    default=DEFAULT_MAX_FILES,
    help="logrotate logger: rotated files kept per stream (stdout.1 is the newest), "
    "unless the stream's options say 'rotate N'; 0 keeps none.",
)


def declare(flags: FlagSet) -> None:
    flags.declare(*MAX_SIZE.values(), *OPTIONS.values(), MAX_FILES)


def _checked_size(size: int, source: str) -> int:
    page = os.sysconf("SC_PAGE_SIZE")
    if size < page:
        raise SettingsError(
            f"{source}: must be at least {units.format_bytes(page)} (one memory page), "
            f"not {units.format_bytes(size)}"
        )
    return size


def _rotate_count(options: str, source: str, default: int) -> int:
    """The ``rotate N`` of logrotate directives (``default`` without one)."""
    count = default
    for directive in filter(None, (part.strip() for part in re.split(r"[\n;]", options))):
        keyword, *arguments = directive.split()
        if keyword == "rotate":
            if len(arguments) != 1 or not re.fullmatch(r"\d+", arguments[0]):
                raise SettingsError(
                    f"{source}: 'rotate' takes a count of files to keep (0 or more), "
                    f"not '{directive}'"
                )
            count = int(arguments[0])
        elif not (keyword in NO_OP_DIRECTIVES and not arguments) and keyword != SIZE_DIRECTIVE:
            raise SettingsError(
                f"{source}: unsupported logrotate option '{directive}' (supported: rotate N; "
                f"accepted without effect: {', '.join(sorted(NO_OP_DIRECTIVES))}, size)"
            )
    return count


def _prefixed_variables(command: CommandInfo) -> Mapping[str, str]:
    if command.environment is None:
        return {}
    return {
        variable.name: variable.value or ""
        for variable in command.environment.variables
        if variable.name.startswith(ENVIRONMENT_PREFIX) and variable.type is VariableType.VALUE
    }
