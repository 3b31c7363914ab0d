"""The client commands, each against one running agent: ``task ...`` and ``agent health``.

Each returns the process exit code: 0 when it did what was asked; ``wait`` and ``launch
--wait`` 0 when the task finished, else its exit code when it has one, 1 otherwise, exactly
as ``dockyard launch``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from dockyard.client import render
from dockyard.client.following import copy_output, follow_output, snapshot, until_terminal
from dockyard.client.http import AgentClient, AgentRefused, ClientError
from dockyard.flags import BOOL, DURATION, Flags, FlagSet
from dockyard.messages import MessageError, Task, TaskInfo, TaskState, TaskStatus, dump
from dockyard.messages.unknown import load_checked
from dockyard.statuses import describe_status, exit_code
from dockyard.validation import validate_task


class UsageError(ClientError):
    """A command line or task file the user must fix."""

    exit_code = 2


Run = Callable[[AgentClient, Flags, TextIO], Awaitable[int]]


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    arguments: str
    """The positional arguments as usage shows them, e.g. ``ID [PATH]``."""
    summary: str
    run: Run
    add_flags: Callable[[FlagSet], None] = lambda flags: None
    json_output: bool = True

    @property
    def name(self) -> str:
        return " ".join(self.words)

    def positional(self, flags: Flags) -> tuple[str, ...]:
        """The arguments after the command words, checked against the usage."""
        given = flags.positional
        required = [word for word in self.arguments.split() if not word.startswith("[")]
        most = len(self.arguments.split())
        if not len(required) <= len(given) <= most:
            raise UsageError(f"usage: dockyard {self.name} {self.arguments}".rstrip())
        return given


# -- task launch ------------------------------------------------------------------


def read_task_file(source: str) -> dict[str, Any]:
    """The task JSON, checked as the agent will check it, so mistakes show before sending."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise UsageError(f"cannot read task: {error.strerror}: {source}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UsageError(f"invalid task: not valid JSON ({error})") from None
    try:  # unknown keys are the agent's to judge (--strict_json), and to warn about
        load_checked(TaskInfo, data, path="task", check=validate_task, strict=False)
    except MessageError as error:
        raise UsageError(f"invalid task: {error}") from None
    assert isinstance(data, dict)  # a TaskInfo loaded from it
    return data


async def launch(agent: AgentClient, flags: Flags, out: TextIO) -> int:
    (source,) = LAUNCH.positional(flags)
    task = read_task_file(source)
    task_id = str(task["task_id"]["value"])
    if not flags.wait:
        warn(await agent.launch(task))
        render.print_task(await agent.task(task_id), out, flags.json)
        return 0
    async with agent.events() as events:
        await snapshot(events)  # subscribed before launching: no update can be missed
        warn(await agent.launch(task))
        launched = await agent.task(task_id)
        print(f"Sandbox: {launched.sandbox_directory}", file=sys.stderr)
        with Progress(task_id, out, flags.json) as show:
            final = await until_terminal(events, task_id, show)
    return await outcome(agent, final, await agent.task(task_id))


def warn(warnings: list[str]) -> None:
    """The agent's warnings, on stderr (also with --json) before anything else is shown."""
    for line in warnings:
        print(f"dockyard: warning: {line}", file=sys.stderr)


def add_launch_flags(flags: FlagSet) -> None:
    flags.add("wait", BOOL, default=False, help="Print status updates until the task ends.")


# -- task list ----------------------------------------------------------------------


async def list_tasks(agent: AgentClient, flags: Flags, out: TextIO) -> int:
    LIST.positional(flags)
    tasks = await agent.tasks()
    if flags.json:
        render.print_json([dump(task) for task in tasks], out)
    else:
        render.task_table(tasks, out)
    return 0


# -- task kill ------------------------------------------------------------------------


async def kill(agent: AgentClient, flags: Flags, out: TextIO) -> int:
    """Exits 0 once the kill is under way, or with --wait once the task has ended."""
    (task_id,) = KILL.positional(flags)
    if not flags.wait:
        started = await agent.kill(task_id, flags.grace_period)
        if not flags.json:
            word = "Killing" if started else "Already ended:"
            print(f"{word} task {task_id}", file=sys.stderr)
        render.print_task(await agent.task(task_id), out, flags.json)
        return 0
    async with agent.events() as events:
        await snapshot(events)
        if await agent.kill(task_id, flags.grace_period):
            with Progress(task_id, out, flags.json) as show:
                await until_terminal(events, task_id, show)
        else:
            ended = await agent.task(task_id)
            if ended.statuses:
                render.print_status(ended.statuses[-1], out, flags.json)
    return 0


def add_kill_flags(flags: FlagSet) -> None:
    flags.add(
        "grace_period",
        DURATION,
        help="Time between SIGTERM and SIGKILL (default: the task's kill policy, else "
        "the agent's --executor_shutdown_grace_period).",
    )
    flags.add("wait", BOOL, default=False, help="Wait until the task has ended.")


# -- task wait ------------------------------------------------------------------------


async def wait(agent: AgentClient, flags: Flags, out: TextIO) -> int:
    (task_id,) = WAIT.positional(flags)
    async with agent.events() as events:
        known = [task for task in await snapshot(events) if task.task_id.value == task_id]
        if not known:
            raise AgentRefused(f"the agent at {agent.url} has no task '{task_id}'", 404)
        live = [task for task in known if not task.state.is_terminal]
        if not live:
            return await report_ended(agent, known[-1], out, flags.json)
        with Progress(task_id, out, flags.json) as show:
            final = await until_terminal(events, task_id, show)
    return await outcome(agent, final, await agent.task(task_id))


async def report_ended(agent: AgentClient, task: Task, out: TextIO, as_json: bool) -> int:
    """For a task that had ended already: its last status and its exit code."""
    if task.statuses:
        render.print_status(task.statuses[-1], out, as_json)
    return await outcome(agent, task.statuses[-1] if task.statuses else None, task)


async def outcome(agent: AgentClient, final: TaskStatus | None, task: Task) -> int:
    """``dockyard launch``'s exit code: 0 finished, else the task's exit code, else 1."""
    state = final.state if final is not None else task.state
    if state is TaskState.TASK_FINISHED:
        return 0
    if task.container_id is None:
        return 1
    try:
        ended = await agent.wait_container(dump(task.container_id))
    except AgentRefused:
        return 1  # the container's record is gone (e.g. removed): no exit status known
    return exit_code(ended.exit_status) or 1


class Progress:
    """Prints a task's status updates as they come; on a terminal (not with --json) a
    spinner below them shows the task's current state.

    The lines and the spinner go through one rich console, so the spinner never garbles
    a line; piped, the lines are exactly those of ``dockyard launch``.
    """

    def __init__(self, task_id: str, out: TextIO, as_json: bool) -> None:
        self.task_id = task_id
        self.out = out
        self.as_json = as_json
        self.console = render.console(out)
        live = self.console.is_terminal and not as_json
        self.spinner = self.console.status(f"{task_id}: waiting") if live else None

    def __enter__(self) -> Callable[[TaskStatus], None]:
        if self.spinner is not None:
            self.spinner.start()
        return self.show

    def __exit__(self, *exc_info: object) -> None:
        if self.spinner is not None:
            self.spinner.stop()

    def show(self, status: TaskStatus) -> None:
        if self.spinner is None:
            render.print_status(status, self.out, self.as_json)
            return
        self.console.print(describe_status(status), markup=False, highlight=False)
        self.spinner.update(f"{self.task_id}: {status.state.name}")


# -- task logs ----------------------------------------------------------------------


async def logs(agent: AgentClient, flags: Flags, out: TextIO) -> int:
    (task_id,) = LOGS.positional(flags)
    task = await agent.task(task_id)
    path = sandbox_path(task, "stderr" if flags.stderr else "stdout")
    if flags.follow:
        await follow_output(agent, task_id, path, out)
    else:
        await copy_output(agent, path, 0, out)
    return 0


def add_logs_flags(flags: FlagSet) -> None:
    flags.add("stderr", BOOL, default=False, help="Show stderr instead of stdout.")
    flags.add(
        "follow",
        BOOL,
        default=False,
        help="Keep printing new output until the task ends (-f for short).",
    )


def sandbox_path(task: Task, relative: str) -> str:
    if task.sandbox_directory is None:
        raise ClientError(f"the agent did not say where the sandbox of {task.task_id.value} is")
    return str(PurePosixPath(task.sandbox_directory) / relative.lstrip("/"))


# -- task files -----------------------------------------------------------------------


async def files(agent: AgentClient, flags: Flags, out: TextIO) -> int:
    task_id, *rest = FILES.positional(flags)
    path = sandbox_path(await agent.task(task_id), rest[0] if rest else "")
    if flags.json:
        render.print_json(await agent.browse(path), out)
        return 0
    try:
        await copy_output(agent, path, 0, out)  # a file: its content
    except AgentRefused as error:
        if error.status != 400:  # 400: a directory, which is listed instead
            raise
        render.file_table(await agent.browse(path), out)
    return 0


# -- agent health ---------------------------------------------------------------------


async def health(agent: AgentClient, flags: Flags, out: TextIO) -> int:
    HEALTH.positional(flags)
    healthy = await agent.health()
    version = await agent.version()
    if flags.json:
        render.print_json({"url": str(agent.url), "healthy": healthy, "version": version}, out)
    else:
        word = "healthy" if healthy else "unhealthy"
        print(f"{agent.url}: {word} (dockyard {version})", file=out)
    return 0 if healthy else 1


LAUNCH = Command(
    ("task", "launch"),
    "TASK.json",
    "launch a task (Mesos TaskInfo JSON; - reads stdin)",
    launch,
    add_launch_flags,
)
LIST = Command(("task", "list"), "", "the agent's tasks, live ones first", list_tasks)
KILL = Command(("task", "kill"), "ID", "kill a task (with its grace period)", kill, add_kill_flags)
LOGS = Command(
    ("task", "logs"),
    "ID",
    "print a task's stdout (or --stderr); -f follows it",
    logs,
    add_logs_flags,
    json_output=False,
)
WAIT = Command(("task", "wait"), "ID", "wait until a task ends; exit with its exit code", wait)
FILES = Command(
    ("task", "files"), "ID [PATH]", "list a sandbox directory, or print a file of it", files
)
HEALTH = Command(("agent", "health"), "", "whether the agent answers and is healthy", health)

COMMANDS = {command.words: command for command in (LAUNCH, LIST, KILL, LOGS, WAIT, FILES, HEALTH)}
