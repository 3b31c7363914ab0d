"""The command line of the client: ``dockyard task ...`` and ``dockyard agent health``.

Flags use the agent's syntax and also come from ``DOCKYARD_<NAME>`` / ``MESOS_<NAME>``
(``DOCKYARD_AGENT``, ``DOCKYARD_PRINCIPAL``, ``DOCKYARD_SECRET``...).

Exit codes besides a task's own: 2 for a command line or task file to fix, 3 when no
agent answers at ``--agent``, 4 when the agent refuses the request (its message is shown).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

import aiohttp
from yarl import URL

from dockyard.cli import fail
from dockyard.client.commands import COMMANDS, Command, UsageError
from dockyard.client.http import AgentClient, ClientError
from dockyard.flags import BOOL, STRING, FlagError, Flags, FlagSet

DEFAULT_AGENT = "http://127.0.0.1:5051"
SHORT_FLAGS = {"-f": "--follow"}
HELP = ("-h", "--help", "help")


def usage() -> str:
    width = max(len(f"{command.name} {command.arguments}") for command in COMMANDS.values())
    lines = [
        f"  {f'{command.name} {command.arguments}'.ljust(width)}  {command.summary}"
        for command in COMMANDS.values()
    ]
    return (
        "usage: dockyard task|agent <command> [flags]   (a client of a running agent)\n\n"
        "commands:\n" + "\n".join(lines) + "\n\n"
        "Every command takes --agent=URL (default " + DEFAULT_AGENT + "), --principal and "
        "--secret\nfor agents with --authenticate_http_readwrite, and --json for scripts.\n"
        "Exit codes: 2 bad command line, 3 agent unreachable, 4 request refused; wait\n"
        "and --wait exit with the task's own code, as dockyard launch does."
    )


def client_flags(command: Command) -> FlagSet:
    flags = FlagSet("client")
    flags.add("agent", STRING, default=DEFAULT_AGENT, help="URL of the agent's HTTP API.")
    flags.add(
        "principal",
        STRING,
        help="Principal for an agent with --authenticate_http_readwrite (HTTP basic auth).",
    )
    flags.add(
        "secret",
        STRING,
        secret=True,
        help="The principal's secret; prefer DOCKYARD_SECRET, which ps does not show.",
    )
    if command.json_output:
        flags.add("json", BOOL, default=False, help="Print Mesos JSON for scripts.")
    command.add_flags(flags.owned_by(command.name))
    return flags


def agent_url(text: str) -> URL:
    """``--agent``: a URL, or ``host:port`` meaning ``http://host:port``."""
    url = URL(text if "://" in text else f"http://{text}")
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"--agent: '{text}' is not an http:// or https:// URL")
    return url


def credentials(flags: Flags) -> aiohttp.BasicAuth | None:
    if flags.principal is None and flags.secret is None:
        return None
    if flags.principal is None or flags.secret is None:
        raise UsageError("--principal and --secret go together (or DOCKYARD_PRINCIPAL/_SECRET)")
    return aiohttp.BasicAuth(flags.principal, flags.secret)


def client_main(args: Sequence[str]) -> int:
    """Run ``args`` (``task ...`` or ``agent health ...``); returns the exit code."""
    if len(args) < 2 or args[1] in HELP:
        print(usage())
        return 0 if len(args) >= 2 else 2
    command = COMMANDS.get((args[0], args[1]))
    if command is None:
        return fail(f"unknown command '{args[0]} {args[1]}'\n{usage()}", 2)
    rest = [SHORT_FLAGS.get(arg, arg) for arg in args[2:]]
    flag_set = client_flags(command)
    if any(arg in HELP[:2] for arg in rest):
        print(f"usage: dockyard {command.name} {command.arguments} [flags]\n")
        print(f"{command.summary[0].upper()}{command.summary[1:]}.\n")
        print(flag_set.help())
        return 0
    try:
        flags = flag_set.parse(rest, os.environ)
        client = AgentClient(agent_url(flags.agent), credentials(flags))
        return asyncio.run(run(command, client, flags))
    except FlagError as error:
        return fail(str(error), 2)
    except ClientError as error:
        return fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        return 130


async def run(command: Command, client: AgentClient, flags: Flags) -> int:
    async with client:
        return await command.run(client, flags, sys.stdout)
