"""HTTP authentication of operators: which flag protects what, and credentials as bytes.

Mesos's semantics per flag: ``--authenticate_http_readwrite`` protects the whole v1
operator API (reads included); ``--authenticate_http_readonly`` protects the calls and
endpoints that read the agent's state. Each test runs a real agent subprocess.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import RunningAgent, basic_auth
from .rawhttp import raw_request

OPS = ("ops", "s3cret")


def credentials_file(tmp_path: Path, *pairs: tuple[str, str]) -> Path:
    path = tmp_path / "credentials.json"
    entries = [{"principal": principal, "secret": secret} for principal, secret in pairs]
    path.write_text(json.dumps({"credentials": entries}))
    return path


async def agent_with_auth(
    make_agent: Any, tmp_path: Path, *flags: str, login: tuple[str, str] = OPS
) -> RunningAgent:
    agent: RunningAgent = await make_agent(
        "--containerizers=sample",
        *flags,
        f"--http_credentials=file://{credentials_file(tmp_path, login)}",
        operator_auth=login,
    )
    return agent


@dataclass(frozen=True)
class Request:
    """One API request and the status it gets once authenticated."""

    name: str
    status: int
    call: dict[str, Any] | None = None
    get: str | None = None

    async def send(
        self, agent: RunningAgent, auth: tuple[str, str] | None, sandbox: str
    ) -> tuple[int, dict[str, str]]:
        headers = basic_auth(auth)
        if self.call is not None:
            async with agent.session.post(
                f"{agent.url}/api/v1", json=self.call, headers=headers
            ) as response:
                return response.status, dict(response.headers)
        assert self.get is not None
        params = {"path": f"{sandbox}/stdout"} if self.get == "/files/read" else {"path": sandbox}
        async with agent.session.get(
            f"{agent.url}{self.get}", params=params, headers=headers
        ) as response:
            return response.status, dict(response.headers)


GHOST = {"container_id": {"value": "ghost"}}
READS = [
    Request("GET_FLAGS", 200, {"type": "GET_FLAGS"}),
    Request("GET_STATE", 200, {"type": "GET_STATE"}),
    Request("GET_TASKS", 200, {"type": "GET_TASKS"}),
    Request("GET_CONTAINERS", 200, {"type": "GET_CONTAINERS"}),
    Request("WAIT_CONTAINER", 404, {"type": "WAIT_CONTAINER", "wait_container": GHOST}),
    Request("SUBSCRIBE", 200, {"type": "SUBSCRIBE"}),
]
READ_ENDPOINTS = [
    Request("/files/browse", 200, get="/files/browse"),
    Request("/files/read", 200, get="/files/read"),
    Request("/metrics", 200, get="/metrics"),
    Request("/metrics/snapshot", 200, get="/metrics/snapshot"),
]
ALWAYS_OPEN_READS = [
    Request("GET_HEALTH", 200, {"type": "GET_HEALTH"}),
    Request("GET_VERSION", 200, {"type": "GET_VERSION"}),
]
WRITES = [
    Request(
        "LAUNCH_CONTAINER",
        200,
        {
            "type": "LAUNCH_CONTAINER",
            "launch_container": {"container_id": {"value": "c1"}, "command": {"value": "true"}},
        },
    ),
    Request("KILL_CONTAINER", 404, {"type": "KILL_CONTAINER", "kill_container": GHOST}),
    Request("REMOVE_CONTAINER", 404, {"type": "REMOVE_CONTAINER", "remove_container": GHOST}),
    Request("KILL_TASK", 404, {"type": "KILL_TASK", "kill_task": {"task_id": {"value": "ghost"}}}),
]


async def finished_sandbox(agent: RunningAgent) -> str:
    launch = {"task": {"name": "t", "task_id": {"value": "t1"}, "command": {"value": "echo hi"}}}
    response = await agent.call(
        {"type": "LAUNCH_TASK", "launch_task": launch}, auth=agent.operator_auth
    )
    assert response.status == 202, await response.text()
    task = await agent.wait_for_state("t1", "TASK_FINISHED")
    return str(task["sandbox_directory"])


async def assert_protected(agent: RunningAgent, requests: list[Request], sandbox: str) -> None:
    for request in requests:
        for auth in (None, ("ops", "wrong"), ("wrong", "s3cret")):
            status, headers = await request.send(agent, auth, sandbox)
            assert status == 401, (request.name, auth)
            assert headers["WWW-Authenticate"].startswith("Basic"), request.name
        assert (await request.send(agent, OPS, sandbox))[0] == request.status, request.name


async def assert_open(agent: RunningAgent, requests: list[Request], sandbox: str) -> None:
    for request in requests:
        assert (await request.send(agent, None, sandbox))[0] == request.status, request.name


async def test_readonly_protects_the_reads_files_and_metrics(make_agent, tmp_path: Path) -> None:
    agent = await agent_with_auth(make_agent, tmp_path, "--authenticate_http_readonly")
    sandbox = await finished_sandbox(agent)
    await assert_protected(agent, READS + READ_ENDPOINTS, sandbox)
    await assert_open(agent, ALWAYS_OPEN_READS + WRITES, sandbox)


async def test_readwrite_protects_every_operator_call_as_mesos_does(
    make_agent, tmp_path: Path
) -> None:
    agent = await agent_with_auth(make_agent, tmp_path, "--authenticate_http_readwrite")
    sandbox = await finished_sandbox(agent)
    await assert_protected(agent, READS + ALWAYS_OPEN_READS + WRITES, sandbox)
    await assert_open(agent, READ_ENDPOINTS, sandbox)
    flags = await agent.call_json({"type": "GET_FLAGS"})
    assert "s3cret" not in json.dumps(flags)


async def test_both_flags_protect_everything_but_the_executor_api(
    make_agent, tmp_path: Path
) -> None:
    agent = await agent_with_auth(
        make_agent, tmp_path, "--authenticate_http_readonly", "--authenticate_http_readwrite"
    )
    sandbox = await finished_sandbox(agent)
    await assert_protected(agent, READS + READ_ENDPOINTS + ALWAYS_OPEN_READS + WRITES, sandbox)


LOGINS = [("opérateur", "sécret ☃"), ("ops", ""), ("ops", "a:b:c"), ("", "secret")]
"""Non-ASCII, an empty secret, colons in the secret, an empty principal."""


async def test_credentials_compare_as_utf8_bytes(make_agent, tmp_path: Path) -> None:
    agent: RunningAgent = await make_agent(
        "--containerizers=sample",
        "--authenticate_http_readwrite",
        f"--http_credentials=file://{credentials_file(tmp_path, *LOGINS)}",
        operator_auth=LOGINS[0],
    )
    for principal, secret in LOGINS:
        response = await agent.call({"type": "GET_HEALTH"}, auth=(principal, secret))
        assert response.status == 200, (principal, secret)
        for wrong in [
            (principal + "x", secret),
            (principal, secret + "x"),
            (principal, secret[:-1]),
            (secret, principal),
            ("ü", "ü"),
            (f"{principal}:{secret}", ""),
        ]:
            if wrong not in LOGINS:
                response = await agent.call({"type": "GET_HEALTH"}, auth=wrong)
                assert response.status == 401, wrong


MALFORMED_AUTHORIZATIONS = [
    b"Basic \xff\xfe",
    "Basic ü".encode(),
    b"Basic " + base64.b64encode("ops:s3cret".encode("utf-16")),
    b"Basic " + base64.b64encode("ü:x".encode("latin-1")),
    b"Basic " + base64.b64encode(b"\xff\xfe:\xc3"),
    b"Basic !!not-base64!!",
    b"Basic " + base64.b64encode(b"no-colon"),
    b"Basic",
    b"Bearer " + base64.b64encode(b"ops:s3cret"),
]


async def test_malformed_authorization_headers_are_401(make_agent, tmp_path: Path) -> None:
    agent = await agent_with_auth(make_agent, tmp_path, "--authenticate_http_readwrite")
    body = json.dumps({"type": "GET_HEALTH"}).encode()
    for header in MALFORMED_AUTHORIZATIONS:
        authorization = b"Authorization: " + header + b"\r\n"
        assert await raw_request(agent.url, "POST", b"/api/v1", authorization, body) == 401
    assert (await agent.call({"type": "GET_HEALTH"}, auth=OPS)).status == 200


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--authenticate_http_readonly"],
            "--authenticate_http_readonly needs --http_credentials with at least one credential",
        ),
        (
            ["--authenticate_http_readwrite", '--http_credentials={"credentials": []}'],
            "--authenticate_http_readwrite needs --http_credentials with at least one credential",
        ),
        (
            ['--http_credentials={"credentials": [{"principal": "ops"}]}'],
            "credentials[0] needs a 'principal' and a 'secret'",
        ),
        (['--http_credentials=["ops"]'], '--http_credentials must be {"credentials"'),
    ],
)
def test_bad_authentication_flags_refuse_to_start(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    command = [sys.executable, "-m", "dockyard.cli", "agent", "--port=0"]
    result = subprocess.run(
        [*command, f"--work_dir={tmp_path}", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
