"""What a task ended with, and assertions that explain themselves when they fail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dockyard.ledger import TaskRecord
from dockyard.messages import Reason, TaskState, TaskStatus
from dockyard.statuses import exit_code
from dockyard.testing import names

MessageMatch = str | re.Pattern[str]
"""A status message: a ``str`` must equal it, a compiled pattern must be found in it."""

OUTPUT_TAIL = 2000
"""How much of the task's stdout and stderr a failed assertion shows."""


@dataclass
class TaskResult:
    """A task's record once it reached a terminal state (or the point a test looked at)."""

    record: TaskRecord

    @property
    def status(self) -> TaskStatus:
        status = self.record.latest_status
        assert status is not None, "a launched task always has a status"
        return status

    @property
    def state(self) -> TaskState:
        return self.status.state

    @property
    def message(self) -> str:
        return self.status.message or ""

    @property
    def reason(self) -> Reason | None:
        return self.status.reason

    @property
    def states(self) -> list[TaskState]:
        """Every state the task went through, in order (across agent restarts)."""
        return [status.state for status in self.record.statuses]

    @property
    def exit_code(self) -> int | None:
        """The process's exit code, when the container exited normally."""
        return exit_code(self.record.exit_status)

    @property
    def sandbox(self) -> Path:
        return self.record.sandbox

    @property
    def stdout(self) -> str:
        return self._read("stdout")

    @property
    def stderr(self) -> str:
        return self._read("stderr")

    def _read(self, name: str) -> str:
        path = self.sandbox / name
        return path.read_text(errors="replace") if path.is_file() else ""

    def describe(self) -> str:
        """The task's states, last message and output: what a failed assertion prints."""
        lines = [
            f"task {self.record.task.task_id.value}: {' -> '.join(s.name for s in self.states)}",
            f"  message: {self.message!r}",
            f"  reason: {self.reason.name if self.reason else None}",
            f"  exit code: {self.exit_code}",
            f"  sandbox: {self.sandbox}",
        ]
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text:
                lines.append(f"  {name} (last {OUTPUT_TAIL} chars):")
                lines.extend(f"    {line}" for line in text[-OUTPUT_TAIL:].splitlines())
        return "\n".join(lines)

    def assert_state(
        self,
        state: names.StateName,
        *,
        reason: names.ReasonName | None = None,
        message: MessageMatch | None = None,
    ) -> TaskResult:
        """Fail unless the task ended in ``state`` (and ``reason``, ``message`` if given).

        ``state`` and ``reason`` are enum members or their names (``"TASK_KILLED"``).
        """
        __tracebackhide__ = True
        state = names.state(state)
        reason = None if reason is None else names.reason(reason)
        problems = []
        if self.state is not state:
            problems.append(f"expected {state.name}, got {self.state.name}")
        if reason is not None and self.reason is not reason:
            problems.append(f"expected reason {reason.name}")
        if message is not None and not matches(message, self.message):
            problems.append(f"expected message {describe_match(message)}")
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + self.describe())
        return self

    def assert_finished(self, *, message: MessageMatch | None = None) -> TaskResult:
        __tracebackhide__ = True
        return self.assert_state(TaskState.TASK_FINISHED, message=message)

    def assert_failed(
        self, *, reason: names.ReasonName | None = None, message: MessageMatch | None = None
    ) -> TaskResult:
        __tracebackhide__ = True
        return self.assert_state(TaskState.TASK_FAILED, reason=reason, message=message)

    def assert_killed(
        self, *, reason: names.ReasonName | None = None, message: MessageMatch | None = None
    ) -> TaskResult:
        __tracebackhide__ = True
        return self.assert_state(TaskState.TASK_KILLED, reason=reason, message=message)

    def assert_exit_code(self, code: int) -> TaskResult:
        """Fail unless the container's raw wait status says it exited with ``code``."""
        __tracebackhide__ = True
        if self.exit_code != code:
            raise AssertionError(
                f"expected exit code {code}, got wait status {self.record.exit_status!r} "
                f"(exit code {self.exit_code})\n{self.describe()}"
            )
        return self


def matches(expected: MessageMatch, actual: str) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.search(actual) is not None
    return expected == actual


def describe_match(expected: MessageMatch) -> str:
    if isinstance(expected, re.Pattern):
        return f"matching /{expected.pattern}/"
    return repr(expected)
