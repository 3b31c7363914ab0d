"""``dockyard`` command line: ``launch``, ``plugins`` (and ``agent``).

Exit codes: 2 for bad flags or usage; for ``launch``, 0 when the task finished,
else the task's exit code when it has one, 1 otherwise (also for invalid input);
for ``plugins``, 1 when any installed plugin is broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from dockyard import __version__
from dockyard.agent import Agent
from dockyard.api.one_shot import serving_executors
from dockyard.api.server import serve
from dockyard.containers import StartupError
from dockyard.core_flags import core_flag_set
from dockyard.discovery import CONTAINER_LOGGERS, CONTAINERIZERS, FETCHERS
from dockyard.flags import BOOL, FlagError, Flags, FlagSet
from dockyard.host import PluginHost
from dockyard.ledger import TaskRecord
from dockyard.messages import MessageError, TaskInfo, TaskState, TaskStatus, dumps, parse_json
from dockyard.messages.unknown import load_checked
from dockyard.statuses import describe_status, exit_code
from dockyard.validation import validate_task
from dockyard.workdir import prepare_work_dir

USAGE = """\
usage: dockyard <command> [flags]

commands:
  agent [flags]              run the agent and its HTTP API (Mesos v1 operator style)
  launch [flags] TASK.json   run one task (Mesos TaskInfo JSON; - reads stdin) to completion
  plugins                    list installed containerizers, fetchers and container loggers
  help                       list every flag with its default and owner

client commands, against a running agent (dockyard task --help tells more):
  task launch|list|kill|logs|wait|files [flags]
  agent health [flags]

Flags use Mesos syntax (--name=value, --name, --no-name) and can be set with
DOCKYARD_<NAME> or MESOS_<NAME> environment variables.
"""


def fail(message: str, code: int = 1) -> int:
    print(f"dockyard: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return run_command(args)
    except BrokenPipeError:
        # The reader went away (`dockyard help | head -1`): stop quietly, as cat does, and
        # point stdout at /dev/null so that the final flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def run_command(args: list[str]) -> int:
    if is_client_command(args):
        from dockyard.client.cli import client_main  # rich and the client load on use

        return client_main(args)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    # What LOG_FORMAT leaves out is not gathered either (the logging HOWTO's
    # "Optimization"): the agent logs a line per API request.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    if not args or args[0] in ("-h", "--help", "help"):
        host = PluginHost.from_entry_points()
        print(USAGE)
        print(command_flags(host, "launch").help())
        return 0
    command, rest = args[0], args[1:]
    if command == "--version":
        print(f"dockyard {__version__}")
        return 0
    if command == "plugins":
        return show_plugins(PluginHost.from_entry_points(), sys.stdout)
    if command in ("launch", "agent"):
        if "-h" in rest or "--help" in rest:
            print(USAGE)
            print(command_flags(PluginHost.from_entry_points(), command).help())
            return 0
        return launch_command(rest) if command == "launch" else agent_command(rest)
    return fail(f"unknown command '{command}'\n{USAGE}", 2)


def is_client_command(args: list[str]) -> bool:
    """``task ...`` and ``agent health``; ``agent [flags]`` still starts the agent."""
    return args[:1] == ["task"] or args[:2] == ["agent", "health"]


def command_flags(host: PluginHost, command: str) -> FlagSet:
    """The core's flags, every plugin's flags, and the command's own."""
    flags = core_flag_set(command)
    host.add_flags(flags)
    if command == "launch":
        flags.owned_by("launch").add(
            "json",
            BOOL,
            default=False,
            help="Print each status update as one line of TaskStatus JSON.",
        )
    return flags


def show_plugins(host: PluginHost, out: TextIO) -> int:
    rows = [("NAME", "KIND", "DISTRIBUTION", "VERSION", "HOOKS")]
    kinds = (
        (CONTAINERIZERS, "containerizer"),
        (FETCHERS, "fetcher"),
        (CONTAINER_LOGGERS, "container logger"),
    )
    for group, kind in kinds:
        for name in host.names(group):
            info = host.infos[name]
            rows.append(
                (name, kind, info.distribution, info.version, ", ".join(host.hooks_of(name)))
            )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        print(f"{cells}  {row[4]}", file=out)
    for broken in host.broken:
        print(f"BROKEN: {broken.describe()}", file=out)
    return 1 if host.broken else 0


def agent_command(args: list[str]) -> int:
    host = PluginHost.from_entry_points()
    try:
        flags = command_flags(host, "agent").parse(args, os.environ)
    except FlagError as error:
        return fail(str(error), 2)
    if flags.positional:
        hint = " (the client command is `dockyard agent health [flags]`)"
        return fail(
            f"agent takes no arguments, got {' '.join(flags.positional)}"
            + (hint if "health" in flags.positional else ""),
            2,
        )
    logging.getLogger().setLevel(logging.INFO)
    try:
        prepare_work_dir(Path(flags.work_dir))
        asyncio.run(serve(flags, host))
    except StartupError as error:
        return fail(str(error))
    except OSError as error:
        return fail(f"agent stopped: {error}")
    return 0


def read_task(source: str, *, strict: bool) -> TaskInfo:
    """The task, checked; its unknown keys are errors when ``strict``, else warnings."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    data = parse_json(text, path="task")
    task, unknown = load_checked(TaskInfo, data, path="task", check=validate_task, strict=strict)
    for line in unknown.lines():
        print(f"dockyard: warning: {line}", file=sys.stderr)
    return task


def launch_command(args: list[str]) -> int:
    host = PluginHost.from_entry_points()
    try:
        flags = command_flags(host, "launch").parse(args, os.environ)
    except FlagError as error:
        return fail(str(error), 2)
    if len(flags.positional) != 1:
        return fail("launch needs exactly one TASK.json argument (- for stdin)", 2)
    try:
        task = read_task(flags.positional[0], strict=flags.strict_json)
    except OSError as error:
        return fail(f"cannot read task: {error}")
    except MessageError as error:
        return fail(f"invalid task: {error}")
    try:
        prepare_work_dir(Path(flags.work_dir))
        return asyncio.run(run_one_task(flags, host, task))
    except StartupError as error:
        return fail(str(error))


async def run_one_task(flags: Flags, host: PluginHost, task: TaskInfo) -> int:
    agent = Agent(flags, host)
    await agent.start()
    if sys.stderr.isatty():
        for name in agent.enabled_plugins:
            host.watch_progress(name, show_progress)
    try:
        printer = json_printer if flags.json else human_printer

        def on_status(updated: TaskRecord, status: TaskStatus) -> None:
            if updated.task is task:
                printer(status)

        unsubscribe = agent.subscribe(on_status)
        serving = serving_executors(agent, flags) if task.executor else contextlib.nullcontext()
        async with serving:
            record = await agent.launch_task(task)
            print(f"Sandbox: {record.sandbox}", file=sys.stderr)
            with kill_on_interrupt(agent, record):
                final = await agent.wait_task(record)
                await agent.dispatcher.wait(record.container_id)  # an executor shuts down
        unsubscribe()
    finally:
        await agent.stop()
    if final.state is TaskState.TASK_FINISHED:
        return 0
    return exit_code(record.exit_status) or 1


@contextlib.contextmanager
def kill_on_interrupt(agent: Agent, record: TaskRecord) -> Iterator[None]:
    """Ctrl-C or SIGTERM kills the task (with its grace period) instead of abandoning it."""
    loop = asyncio.get_running_loop()
    killing: set[asyncio.Task[TaskRecord]] = set()

    def kill() -> None:
        print("Killing task...", file=sys.stderr)
        kill = loop.create_task(
            agent.kill_task(record.task.task_id, framework_id=record.framework.id)
        )
        killing.add(kill)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, kill)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def show_progress(line: str) -> None:
    """A one-line progress bar on the terminal, redrawn in place."""
    print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)


def json_printer(status: TaskStatus) -> None:
    print(dumps(status), flush=True)


def human_printer(status: TaskStatus) -> None:
    print(describe_status(status), flush=True)


if __name__ == "__main__":
    sys.exit(main())
