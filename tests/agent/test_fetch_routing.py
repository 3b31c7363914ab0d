"""A third-party ``data:`` fetcher beside the built-in one, in one task: through
``dockyard launch`` and a real agent, with the ``mesos`` containerizer, as root and as
``nobody``; and the messages of URIs nobody can fetch."""

from __future__ import annotations

import functools
import json
import pwd
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ..conftest import SAMPLE_FETCHERS
from .conftest import RunningAgent, kill_leftovers, needs_root

pytest.importorskip("dockyard_mesos")
pytest.importorskip("dockyard_fetcher")

FINISHED = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
EXPECTED = "from a file\nfrom data\nfrom http\nlater data wins\n"


@pytest.fixture
def fetchers_installed(install_plugins: Callable[[Path], None]) -> None:
    """The sample data: fetcher, visible to the agents these tests start."""
    install_plugins(SAMPLE_FETCHERS)


@pytest.fixture
def origin(public_dir: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (readable by ``nobody`` too)."""
    folder = public_dir / "origin"
    folder.mkdir(mode=0o755)
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not on the test's stderr."""


def mixed_uris(origin: tuple[Path, str]) -> list[dict[str, Any]]:
    """A file, a data:, an http and another data: URI, the last two on one path."""
    folder, url = origin
    (folder / "local.txt").write_text("from a file\n")
    (folder / "served.txt").write_text("from http\n")
    for path in folder.iterdir():
        path.chmod(0o644)
    return [
        {"value": (folder / "local.txt").as_uri(), "output_file": "a"},
        {"value": "data:,from%20data%0A", "output_file": "b"},
        {"value": f"{url}/served.txt", "output_file": "c"},
        {"value": f"{url}/served.txt", "output_file": "d"},
        {"value": "data:text/plain;base64,bGF0ZXIgZGF0YSB3aW5zCg==", "output_file": "d"},
    ]


def task(task_id: str, command: str, uris: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "command": {"value": command, "uris": uris, **fields},
    }


@pytest.fixture
def work_dir(public_dir: Path) -> Iterator[Path]:
    """Asked for before ``make_agent``, so its clean-up comes after the agent's."""
    work = public_dir / "work"
    yield work
    kill_leftovers(work)


def launch(work_dir: Path, task: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = work_dir.parent / "task.json"
    path.write_text(json.dumps(task))
    command = [sys.executable, "-m", "dockyard.cli", "launch", "--containerizers=mesos"]
    return subprocess.run(
        [*command, f"--work_dir={work_dir}", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def sandbox_of(work_dir: Path, task_id: str) -> Path:
    return next(work_dir.glob(f"slaves/*/frameworks/*/executors/{task_id}/runs/latest"))


@pytest.mark.usefixtures("fetchers_installed")
def test_launch_fetches_data_file_and_http_uris_in_one_task(
    work_dir: Path, origin: tuple[Path, str]
) -> None:
    result = launch(work_dir, task("mixed", "cat a b c d", mixed_uris(origin)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == FINISHED
    assert (sandbox_of(work_dir, "mixed") / "stdout").read_text() == EXPECTED


@pytest.mark.usefixtures("fetchers_installed")
def test_launch_fails_a_malformed_data_uri_naming_it(work_dir: Path) -> None:
    result = launch(work_dir, task("bad", "true", [{"value": "data:x", "output_file": "x"}]))
    assert result.returncode == 1
    assert "TASK_FAILED" in result.stdout
    assert (
        "Failed to launch container: Failed to fetch 'data:x': "
        "malformed data: URI (no ',' before the data)"
    ) in result.stdout


@needs_root
@pytest.mark.usefixtures("fetchers_installed")
async def test_an_agent_fetches_for_nobody_through_both_fetchers(
    work_dir: Path, make_agent: Callable[..., Any], origin: tuple[Path, str]
) -> None:
    agent: RunningAgent = await make_agent("--containerizers=mesos", work_dir=work_dir)
    launched = task("as-nobody", "cat a b c d", mixed_uris(origin), user="nobody")
    response = await agent.call({"type": "LAUNCH_TASK", "launch_task": {"task": launched}})
    assert response.status == 202, await response.text()
    state = await agent.wait_for_state("as-nobody", "TASK_FINISHED", "TASK_FAILED")
    assert state["state"] == "TASK_FINISHED", state["statuses"][-1]
    sandbox = sandbox_of(work_dir, "as-nobody")
    assert (sandbox / "stdout").read_text() == EXPECTED
    nobody = pwd.getpwnam("nobody").pw_uid
    for name in "abcd":
        assert (sandbox / name).stat().st_uid == nobody, name


@pytest.mark.usefixtures("fetchers_installed")
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("data:;base64,!!", "malformed data: URI (bad base64"),
        ("DATA:,no-output-file", "a data: URI has no file name; set its output_file"),
        ("urn:isbn:0451450523", "no fetcher handles the URI scheme 'urn:' (dockyard-fetcher takes"),
        ("example.com:/srv/app.tgz", "no fetcher handles the URI scheme 'example.com:'"),
        ("nosuch://host/x", "no fetcher handles the URI scheme 'nosuch:'"),
    ],
)
async def test_an_agent_fails_unfetchable_uris_and_keeps_running(
    work_dir: Path, make_agent: Callable[..., Any], value: str, reason: str
) -> None:
    agent: RunningAgent = await make_agent("--containerizers=mesos", work_dir=work_dir)
    bad = task("bad", "true", [{"value": value}])
    assert (await agent.call({"type": "LAUNCH_TASK", "launch_task": {"task": bad}})).status == 202
    state = await agent.wait_for_state("bad", "TASK_FINISHED", "TASK_FAILED")
    message = state["statuses"][-1]["message"]
    assert state["state"] == "TASK_FAILED"
    assert message.startswith(f"Failed to launch container: Failed to fetch '{value}': "), message
    assert reason in message
    good = task("good", "cat x", [{"value": "data:,fine", "output_file": "x"}])
    assert (await agent.call({"type": "LAUNCH_TASK", "launch_task": {"task": good}})).status == 202
    state = await agent.wait_for_state("good", "TASK_FINISHED", "TASK_FAILED")
    assert state["state"] == "TASK_FINISHED", state["statuses"][-1]
