"""A web page the operator visits cannot use the agent's API: not by a cross-site request
(CSRF: a ``text/plain`` LAUNCH_TASK would run code as root) nor by a domain that resolves to
the agent (DNS rebinding). Clients that are not browsers, and the web UI's own same-origin
requests, are unaffected. Each test runs a real agent subprocess.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dockyard.api.last_resort import MARKER
from yarl import URL

from .calls import launch
from .conftest import RunningAgent
from .rawhttp import raw_request
from .recordio import next_event
from .test_auth import finished_sandbox

EVIL = "http://evil.example"
CROSS_SITE_HEADERS = [
    {"Origin": EVIL},
    {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # another server on the same host, any port
    {"Origin": "null"},  # a sandboxed frame or a file:// page
]
"""What a browser sends with a request another site's page makes."""


def host_of(agent: RunningAgent) -> str:
    return URL(agent.url).raw_authority


def port_of(agent: RunningAgent) -> int:
    port = URL(agent.url).port
    assert port is not None
    return port


async def post(agent: RunningAgent, path: str, body: str, headers: dict[str, str]) -> Any:
    async with agent.session.post(f"{agent.url}{path}", data=body, headers=headers) as response:
        return response.status, await response.text()


async def get(agent: RunningAgent, route: str, headers: dict[str, str], **params: str) -> Any:
    async with agent.session.get(f"{agent.url}{route}", params=params, headers=headers) as response:
        return response.status, await response.text()


async def read_requests(
    agent: RunningAgent, sandbox: str, headers: dict[str, str]
) -> list[tuple[str, Any]]:
    """The status and text of every read route (SUBSCRIBE's first event only), sent with
    ``headers``."""
    answers: list[tuple[str, Any]] = []
    for call in ("GET_FLAGS", "GET_STATE", "GET_TASKS", "GET_HEALTH"):
        answers.append((call, await post(agent, "/api/v1", json.dumps({"type": call}), headers)))
    async with agent.session.post(
        f"{agent.url}/api/v1", json={"type": "SUBSCRIBE"}, headers=headers
    ) as stream:
        first = await next_event(stream) if stream.status == 200 else await stream.text()
        answers.append(("SUBSCRIBE", (stream.status, first)))
    stdout = f"{sandbox}/stdout"
    answers.append(("browse", await get(agent, "/files/browse", headers, path=sandbox)))
    answers.append(("read", await get(agent, "/files/read", headers, path=stdout)))
    answers.append(("download", await get(agent, "/files/download", headers, path=stdout)))
    answers.append(("metrics", await get(agent, "/metrics", headers)))
    answers.append(("snapshot", await get(agent, "/metrics/snapshot", headers)))
    return answers


def assert_no_unexpected_error(agent: RunningAgent) -> None:
    assert agent.log is not None
    assert MARKER not in agent.log.read_text()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_cross_site_launch_is_refused_and_nothing_runs(
    make_agent, tmp_path: Path, content_type: str
) -> None:
    agent: RunningAgent = await make_agent()
    marker = tmp_path / "pwned"
    for index, headers in enumerate(CROSS_SITE_HEADERS):
        body = json.dumps(launch(f"evil-{index}", f"touch {marker}"))
        status, text = await post(agent, "/api/v1", body, {**headers, "Content-Type": content_type})
        assert status == 403, (headers, text)
        assert "another site" in text, text
        status, text = await post(agent, "/api/v1/executor", "{}", headers)
        assert status == 403, (headers, text)
    assert await agent.tasks() == {}
    assert not marker.exists()
    assert not (agent.work_dir / "slaves").exists() or not any(
        (agent.work_dir / "slaves").rglob("evil-*")
    )
    assert_no_unexpected_error(agent)


@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS, ids=str)
async def test_cross_site_reads_and_subscribe_are_refused(make_agent, headers) -> None:
    agent: RunningAgent = await make_agent()
    sandbox = await finished_sandbox(agent)
    for name, (status, text) in await read_requests(agent, sandbox, headers):
        assert status == 403, (name, text)
        assert "another site" in text, (name, text)


async def test_same_origin_browser_requests_are_served(make_agent) -> None:
    """What the web UI's fetches send: an Origin equal to scheme://Host."""
    agent: RunningAgent = await make_agent()
    port = port_of(agent)
    sandbox = await finished_sandbox(agent)
    for origin in (agent.url, f"HTTP://127.0.0.1:{port}", f"http://127.0.0.1:{port}/"):
        same_origin = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        for name, (status, text) in await read_requests(agent, sandbox, same_origin):
            assert status == 200, (origin, name, text)
    same_origin = {"Origin": agent.url, "Content-Type": "application/json"}
    status, text = await post(agent, "/api/v1", json.dumps(launch("ui", "true")), same_origin)
    assert status == 202, text
    await agent.wait_for_state("ui", "TASK_FINISHED")


async def test_behind_a_tls_proxy_the_forwarded_scheme_makes_the_origin(make_agent) -> None:
    """A TLS-terminating proxy says ``X-Forwarded-Proto: https``: the UI's https origin is
    its own then, and only then; the Host is still compared."""
    agent: RunningAgent = await make_agent("--http_allowed_hosts=agent.example")
    health = '{"type": "GET_HEALTH"}'
    proxied = {"Host": "agent.example", "Origin": "https://agent.example"}
    for forwarded in ({"X-Forwarded-Proto": "https"}, {"Forwarded": "for=10.0.0.1;proto=https"}):
        status, text = await post(agent, "/api/v1", health, {**proxied, **forwarded})
        assert status == 200, (forwarded, text)
    for refused in (
        proxied,  # no forwarded scheme: the agent's own is http
        {**proxied, "X-Forwarded-Proto": "http"},
        {**proxied, "X-Forwarded-Proto": "gopher"},
        {**proxied, "X-Forwarded-Proto": "https", "Origin": "https://evil.example"},
        {**proxied, "X-Forwarded-Proto": "https", "Host": "evil.example"},
    ):
        status, text = await post(agent, "/api/v1", health, refused)
        assert status == 403, (refused, text)
    assert_no_unexpected_error(agent)


async def test_an_origin_that_differs_in_scheme_host_or_port_is_refused(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    port = port_of(agent)
    for origin in (
        f"https://127.0.0.1:{port}",
        f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}",  # another local server
        f"http://localhost:{port}",  # the Host says 127.0.0.1
        "http://127.0.0.1",
        f"http://127.0.0.1:{port}/page",
        f"http://ops@127.0.0.1:{port}",
        "://",
        "http://[::1",
        "\u2603",
        f"http://127.0.0.1:{port}, {EVIL}",
    ):
        status, text = await post(agent, "/api/v1", '{"type": "GET_HEALTH"}', {"Origin": origin})
        assert status == 403, (origin, text)
    assert_no_unexpected_error(agent)


async def test_curl_and_other_clients_without_browser_headers_are_unaffected(make_agent) -> None:
    """The README's curl commands (``-d``: a form content type, no Origin), by name too."""
    agent: RunningAgent = await make_agent()
    curl = shutil.which("curl")
    assert curl is not None, "curl is one of scripts/test's APT_PACKAGES"
    addresses = {"by-ip": agent.url, "by-name": f"http://localhost:{port_of(agent)}"}
    for task_id, address in addresses.items():
        for body in ('{"type": "GET_HEALTH"}', json.dumps(launch(task_id, "true"))):
            result = await asyncio.to_thread(
                subprocess.run,
                [curl, "-s", "-w", "\n%{http_code}", f"{address}/api/v1", "-d", body],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            status = result.stdout.rsplit("\n", 1)[-1]
            assert status in ("200", "202"), result.stdout
        await agent.wait_for_state(task_id, "TASK_FINISHED")
    sandbox = await finished_sandbox(agent)
    for name, (status, text) in await read_requests(agent, sandbox, {}):
        assert status == 200, (name, text)


@pytest.mark.parametrize(
    ("method", "path"), [("POST", b"/api/v1"), ("GET", b"/metrics"), ("GET", b"/")]
)
async def test_a_rebinding_host_is_refused(make_agent, method: str, path: bytes) -> None:
    """A hostile domain resolved to 127.0.0.1: its page is same-origin with itself."""
    agent: RunningAgent = await make_agent()
    body = b'{"type": "GET_FLAGS"}' if method == "POST" else b""
    for host in (b"evil.example", b"evil.example:%d" % port_of(agent), b"127.0.0.1.evil.example"):
        origin = b"Origin: http://" + host + b"\r\n"
        for headers in (b"", origin, b"Sec-Fetch-Site: same-origin\r\n" + origin):
            status = await raw_request(agent.url, method, path, headers, body, host=host)
            assert status == 403, (host, headers)
    status, text = await post(
        agent, "/api/v1", body.decode(), {"Host": f"evil.example:{port_of(agent)}"}
    )
    assert status == 403
    assert "--http_allowed_hosts" in text, text
    assert "'evil.example'" in text, text


async def test_ip_addresses_localhost_and_the_agents_names_are_accepted(make_agent) -> None:
    agent: RunningAgent = await make_agent(
        "--containerizers=sample", "--hostname=Agent-Under-Test.example"
    )
    port = port_of(agent)
    hosts = [
        f"127.0.0.1:{port}",
        "127.0.0.1",
        "10.1.2.3:5051",  # the docker bridge or any other interface
        f"[::1]:{port}",
        "[fe80::1%25eth0]",
        f"localhost:{port}",
        "LOCALHOST.",
        "agent-under-test.example",
        socket.gethostname(),
        socket.getfqdn(),
    ]
    for host in hosts:
        status, text = await post(agent, "/api/v1", '{"type": "GET_HEALTH"}', {"Host": host})
        assert status == 200, (host, text)


async def test_malformed_hosts_are_refused_without_an_error(make_agent) -> None:
    agent: RunningAgent = await make_agent()
    for host in (b"", b"a@127.0.0.1", b"127.0.0.1/x", b"[::1", b"127.0.0.1:99999999", b"\xff\xfe"):
        status = await raw_request(agent.url, "GET", b"/metrics", b"", host=host)
        assert status in (400, 403), host
    assert_no_unexpected_error(agent)


async def test_http_allowed_hosts_names_more_hosts_or_any(make_agent) -> None:
    named: RunningAgent = await make_agent(
        "--containerizers=sample", "--http_allowed_hosts=dockyard.example,Other.Example."
    )
    anyone: RunningAgent = await make_agent(
        "--containerizers=sample", "--http_allowed_hosts=*", work_dir=named.work_dir.parent / "w2"
    )
    health = '{"type": "GET_HEALTH"}'
    for host in ("dockyard.example:5051", "other.example", "OTHER.EXAMPLE."):
        assert (await post(named, "/api/v1", health, {"Host": host}))[0] == 200, host
    assert (await post(named, "/api/v1", health, {"Host": "evil.example"}))[0] == 403
    assert (await post(anyone, "/api/v1", health, {"Host": "evil.example"}))[0] == 200
    # '*' allows any name, not any site: a cross-site request is still refused.
    cross_site = {"Host": "evil.example", "Origin": "http://other.example"}
    assert (await post(anyone, "/api/v1", health, cross_site))[0] == 403


@pytest.mark.parametrize("value", ["a/b", "evil.example:80", "http://x", "a b", "-x"])
def test_a_bad_allowed_host_stops_the_agent_at_start(tmp_path: Path, value: str) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "dockyard.cli", "agent", "--port=0"),
            f"--work_dir={tmp_path}",
            f"--http_allowed_hosts={value}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "--http_allowed_hosts" in result.stderr, result.stderr
    assert "is not a host name" in result.stderr, result.stderr


async def test_a_link_from_another_site_opens_the_ui_page_only(make_agent) -> None:
    """A top-level navigation to ``/`` is served (the page holds no state); a frame is not,
    nor is a navigation to anything else."""
    agent: RunningAgent = await make_agent()
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert (await get(agent, "/", {**link, "Sec-Fetch-Dest": "document"}))[0] == 200
    assert (await get(agent, "/", {**link, "Sec-Fetch-Dest": "iframe"}))[0] == 403
    assert (await get(agent, "/metrics", {**link, "Sec-Fetch-Dest": "document"}))[0] == 403
    assert (await get(agent, "/", {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}))[
        0
    ] == 200
