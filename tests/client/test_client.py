"""Every client command against a real agent, with the agent down, refusing, or asked about
a task it does not know, and with bad input."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Client, read_line, task_json

WAITS_FOR_GO = 'echo one; while [ ! -e "$MESOS_SANDBOX/go" ]; do sleep 0.05; done; echo two'
"""Prints ``one``, then ``two`` once the test creates ``go`` in the sandbox."""


def go(task: dict[str, Any]) -> None:
    (Path(task["sandbox_directory"]) / "go").touch()


def test_launch_prints_the_task_and_list_shows_it(client: Client) -> None:
    task = client.launch("t1", "true")
    assert task["task_id"] == {"value": "t1"}
    assert Path(task["sandbox_directory"]).is_dir()

    wait = client.run("task", "wait", "t1")
    assert wait.returncode == 0, wait.stderr
    table = client.run("task", "list")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "STATE", "UPDATED", "MESSAGE"]
    assert row.split()[:3] == ["t1", "t1", "TASK_FINISHED"]

    listed = json.loads(client.run("task", "list", "--json").stdout)
    assert [(t["task_id"]["value"], t["state"]) for t in listed] == [("t1", "TASK_FINISHED")]


def test_launch_wait_prints_updates_and_exits_with_the_exit_code(client: Client) -> None:
    path = client.tmp_path / "task.json"
    path.write_text(json.dumps(task_json("t1", "exit 3")))
    result = client.run("task", "launch", "--wait", str(path))
    assert result.returncode == 3, result.stderr
    states = [line.split()[0] for line in result.stdout.splitlines()]
    assert states == ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
    assert "Sandbox: " in result.stderr


def test_launch_reads_stdin_and_rejects_bad_input_before_sending(client: Client) -> None:
    bad = client.run("task", "launch", "-", stdin='{"name": "t", "command": {"value": "true"}}')
    assert bad.returncode == 2
    assert bad.stderr.strip() == "dockyard: invalid task: task.task_id: missing required field"
    not_json = client.run("task", "launch", "-", stdin="{")
    assert not_json.returncode == 2
    assert "not valid JSON" in not_json.stderr
    assert json.loads(client.run("task", "list", "--json").stdout) == []

    good = client.run("task", "launch", "--wait", "-", stdin=json.dumps(task_json("t1", "true")))
    assert good.returncode == 0, good.stderr


AGENT_WARNING = (
    "dockyard: warning: call.launch_task.task.resorces: unknown field (did you mean 'resources'?)"
)


@pytest.mark.parametrize("args", [("--json",), ("--wait",)], ids=["json", "wait"])
def test_launch_prints_the_agent_s_warnings_on_stderr(
    client: Client, args: tuple[str, ...]
) -> None:
    task = {**task_json("t1", "true"), "resorces": []}
    result = client.run("task", "launch", *args, "-", stdin=json.dumps(task))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == AGENT_WARNING
    assert "unknown field" not in result.stdout


async def test_launch_on_a_strict_agent_shows_its_refusal(
    make_agent: Callable[..., Any], client: Client
) -> None:
    strict = await make_agent(
        "--containerizers=sample", "--strict_json", work_dir=client.tmp_path / "strict"
    )
    task = {**task_json("t1", "true"), "resorces": []}
    result = client.run(
        "task", "launch", "-", stdin=json.dumps(task), env={"DOCKYARD_AGENT": strict.url}
    )
    assert result.returncode == 4
    assert "answered 400 Bad Request: " + AGENT_WARNING.removeprefix("dockyard: warning: ") in (
        result.stderr
    )


def test_wait_exits_with_the_task_exit_code(client: Client) -> None:
    task = client.launch("t1", f"{WAITS_FOR_GO}; exit 7")
    waiting = client.start("task", "wait", "t1")
    go(task)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 7, err
    assert out.split()[:2] == ["TASK_FAILED", "t1"]
    assert "exited with status 7" in out

    again = client.run("task", "wait", "t1", "--json")  # ended already: at once
    assert again.returncode == 7
    assert json.loads(again.stdout)["state"] == "TASK_FAILED"


def test_logs_follow_prints_output_while_the_task_writes(client: Client) -> None:
    task = client.launch("t1", f"{{ {WAITS_FOR_GO}; }} >&2")
    following = client.start("task", "logs", "t1", "--stderr", "-f")
    assert read_line(following) == "one\n"  # printed while the task still runs
    go(task)
    rest, err = following.communicate(timeout=60)
    assert following.returncode == 0, err
    assert rest == "two\n"

    stdout = client.run("task", "logs", "t1")
    assert (stdout.returncode, stdout.stdout) == (0, "")
    stderr = client.run("task", "logs", "t1", "--stderr")
    assert (stderr.returncode, stderr.stdout) == (0, "one\ntwo\n")


def test_logs_follow_copies_every_byte_of_a_large_output(client: Client) -> None:
    """More than one read's worth, with multi-byte characters: nothing lost or doubled."""
    line = "é" * 99 + "\n"
    client.launch("t1", f"for i in $(seq 20000); do echo {'é' * 99}; done")
    following = client.run("task", "logs", "t1", "-f")
    assert following.returncode == 0, following.stderr
    assert following.stdout == line * 20000


def test_kill_ends_the_task(client: Client) -> None:
    client.launch("t1", "sleep 600")
    killed = client.run("task", "kill", "t1", "--wait", "--grace_period=1secs")
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout.splitlines()[-1].split()[:2] == ["TASK_KILLED", "t1"]

    again = client.run("task", "kill", "t1")
    assert again.returncode == 0
    assert "Already ended: task t1" in again.stderr
    assert json.loads(client.run("task", "list", "--json").stdout)[0]["state"] == "TASK_KILLED"


def test_files_lists_the_sandbox_and_prints_a_file(client: Client) -> None:
    client.launch("t1", "mkdir -p out && echo result > out/data")
    assert client.run("task", "wait", "t1").returncode == 0

    listing = client.run("task", "files", "t1")
    assert listing.returncode == 0, listing.stderr
    names = [row.split()[-1] for row in listing.stdout.splitlines()[1:]]
    assert names == ["out/", "stderr", "stdout"]

    data = client.run("task", "files", "t1", "out/data")
    assert (data.returncode, data.stdout) == (0, "result\n")
    entries = json.loads(client.run("task", "files", "t1", "out", "--json").stdout)
    assert [Path(entry["path"]).name for entry in entries] == ["data"]

    outside = client.run("task", "files", "t1", "/".join([".."] * 12) + "/etc")
    assert outside.returncode == 4
    assert "answered 403" in outside.stderr
    assert "'..' is not allowed" in outside.stderr


def test_health(client: Client) -> None:
    result = client.run("agent", "health")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{client.url}: healthy (dockyard 0.1.0)"
    answer = json.loads(client.run("agent", "health", "--json").stdout)
    assert answer == {"url": client.url, "healthy": True, "version": "0.1.0"}


def test_agent_with_flags_still_starts_the_agent(client: Client, tmp_path: Path) -> None:
    """``agent health`` is the client; ``agent [flags] health`` is a mistake, said so."""
    result = client.run("agent", f"--work_dir={tmp_path / 'other'}", "--port=0", "health")
    assert result.returncode == 2
    assert "the client command is `dockyard agent health [flags]`" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("task", "wait", "nope"),
        ("task", "logs", "nope"),
        ("task", "files", "nope"),
        ("task", "kill", "nope"),
    ],
)
def test_unknown_task(client: Client, args: tuple[str, ...]) -> None:
    result = client.run(*args)
    assert result.returncode == 4
    assert "nope" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused, and nobody else can
    take it while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "args", [("agent", "health"), ("task", "list"), ("task", "wait", "t1"), ("task", "logs", "t1")]
)
def test_unreachable_agent(client: Client, closed_port: int, args: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    result = client.run(*args, f"--agent={url}")
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"dockyard: cannot reach the agent at {url}: Connection refused")


async def test_credentials(make_agent: Callable[..., Any], client: Client) -> None:
    credentials = client.tmp_path / "credentials.json"
    credentials.write_text('{"credentials": [{"principal": "ops", "secret": "s3cret"}]}')
    agent = await make_agent(
        "--containerizers=sample",
        "--authenticate_http_readwrite",
        f"--http_credentials=file://{credentials}",
        work_dir=client.tmp_path / "secured",
        operator_auth=("ops", "s3cret"),
    )
    task = client.tmp_path / "task.json"
    task.write_text(json.dumps(task_json("t1", "true")))
    launch = ("task", "launch", str(task), f"--agent={agent.url}")

    anonymous = client.run(*launch)
    assert anonymous.returncode == 4
    assert "answered 401 Unauthorized: it needs credentials: --principal and --secret" in (
        anonymous.stderr
    )
    wrong = client.run(*launch, "--principal=ops", "--secret=nope")
    assert wrong.returncode == 4
    assert "the credentials of principal 'ops' were refused" in wrong.stderr
    half = client.run(*launch, "--principal=ops")
    assert half.returncode == 2

    from_env = {"DOCKYARD_PRINCIPAL": "ops", "DOCKYARD_SECRET": "s3cret"}
    right = client.run(*launch, "--wait", env=from_env)
    assert right.returncode == 0, right.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("task",), "usage: dockyard task|agent <command>"),
        (("task", "frob"), "unknown command 'task frob'"),
        (("task", "wait"), "usage: dockyard task wait ID"),
        (("task", "wait", "a", "b"), "usage: dockyard task wait ID"),
        (("task", "list", "--follow"), "unknown flag '--follow'"),
        (("task", "list", "--agent=ftp://x"), "--agent: 'ftp://x' is not an http://"),
    ],
)
def test_bad_command_lines(client: Client, args: tuple[str, ...], message: str) -> None:
    result = client.run(*args)
    assert result.returncode == 2
    assert message in result.stdout + result.stderr


def test_help_lists_every_command(client: Client) -> None:
    result = client.run("task", "--help")
    assert result.returncode == 0
    for command in ("launch", "list", "kill", "logs", "wait", "files"):
        assert f"task {command}" in result.stdout
    logs = client.run("task", "logs", "--help")
    assert "--[no-]follow" in logs.stdout
    assert "--agent=VALUE" in logs.stdout
