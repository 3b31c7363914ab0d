"""Task states and reasons given to the kit by name (``"TASK_RUNNING"``) or as enums.

A misspelled name fails at once, listing the valid ones, instead of after a wait's timeout.
"""

from __future__ import annotations

import difflib
import enum
from typing import TypeVar

from dockyard.messages import Reason, TaskState

E = TypeVar("E", bound=enum.Enum)

StateName = TaskState | str
"""``TaskState.TASK_RUNNING`` or ``"TASK_RUNNING"``."""
ReasonName = Reason | str
"""``Reason.REASON_COMMAND_EXECUTOR_FAILED`` or its name."""


def member(kind: type[E], value: E | str) -> E:
    """The member of ``kind`` that ``value`` is or names; a ValueError lists the valid names."""
    __tracebackhide__ = True
    if isinstance(value, kind):
        return value
    if isinstance(value, str) and value in kind.__members__:
        return kind[value]
    names = list(kind.__members__)
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ValueError(f"{value!r} is not a {kind.__name__}{hint}; valid names: {', '.join(names)}")


def state(value: StateName) -> TaskState:
    __tracebackhide__ = True
    return member(TaskState, value)


def reason(value: ReasonName) -> Reason:
    __tracebackhide__ = True
    return member(Reason, value)
