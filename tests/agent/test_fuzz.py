"""Property-based fuzz of the whole HTTP API of a real agent (``--containerizers=mesos``).

Arbitrary bytes, arbitrary JSON, Mesos call shapes with hostile fields and arbitrary
query strings go to every endpoint. Whatever is sent: a 2xx or a 4xx with a message,
never a 5xx; the agent stays up and logs no traceback (in particular no
``last_resort.MARKER``, so nothing passes only thanks to that catch-all); a rejected
request leaves the work dir as it was; and nothing appears outside the work dir, which
hostile ids try to reach with ``../`` and absolute paths ending in a unique canary name.

Commands are never fuzzed (accepted tasks run ``true``); examples are bounded and
derandomized, so a run takes seconds and is the same every time.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from dockyard.api.last_resort import MARKER
from dockyard.checkpoint import TEMPORARY_SUFFIX
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from .conftest import kill_leftovers, start_agent, stop_agent

pytestmark = pytest.mark.xdist_group("api-fuzz")

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CANARY = f"fuzz-canary-{uuid.uuid4().hex[:12]}"
REQUEST_TIMEOUT = 60.0
FRAMEWORK = "fuzz-framework"
EXECUTOR = "fuzz-executor"
EXAMPLES = itertools.count()
"""Numbers each example, so that the ids of its launches are new."""
UUID16 = base64.b64encode(bytes(range(16))).decode()
COMMAND = {"value": "true"}


@dataclass
class FuzzedAgent:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    work_dir: Path
    log: Path
    log_offset: int = 0
    sandbox: str = ""
    """A finished task's sandbox, for /files queries that find something."""

    def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request; a streamed answer (SUBSCRIBE) is closed after its headers."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            if response.getheader("Content-Type", "").startswith("application/recordio"):
                return response.status, b"(stream)"
            return response.status, response.read()
        finally:
            connection.close()

    def call(self, body: Any) -> Any:
        status, text = self.request("POST", "/api/v1", json.dumps(body).encode())
        assert status == 200, text
        return json.loads(text)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedAgent]:
    root = tmp_path_factory.mktemp("fuzz")
    work_dir = root / "work"
    log = root / "agent.log"
    process, url = start_agent(
        work_dir,
        log,
        "--containerizers=mesos",
        "--executor_registration_timeout=10secs",
        # executor bodies are read only without executor authentication (else: 401 first)
        "--no-authenticate_http_executors",
    )
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        fuzzed = FuzzedAgent(process, host, int(port), work_dir, log)
        calls = operator_calls()
        for name in ("LAUNCH_TASK", "LAUNCH_CONTAINER"):
            status, text = fuzzed.request("POST", "/api/v1", json.dumps(calls[name]).encode())
            assert status in (200, 202), text
        settle(fuzzed)
        finished = fuzzed.call({"type": "GET_TASKS"})["get_tasks"]["completed_tasks"]
        fuzzed.sandbox = finished[0]["sandbox_directory"]
        yield fuzzed
    finally:
        stop_agent(process)
        kill_leftovers(work_dir)


# -- what is sent -------------------------------------------------------------------


class Raw:
    """A JSON fragment written as it is (json.dumps cannot write a 5000-digit integer)."""

    def __init__(self, text: str) -> None:
        self.text = text


def encode(value: Any) -> bytes:
    """JSON text of ``value``; :class:`Raw` parts and lone surrogates are kept as they are."""
    raws: list[str] = []

    def placeholder(raw: Raw) -> str:
        raws.append(raw.text)
        return f"@@raw{len(raws) - 1}@@"

    text = json.dumps(value, default=placeholder)
    for index, raw in enumerate(raws):
        text = text.replace(f'"@@raw{index}@@"', raw)
    return text.encode()


def nested_container_id(levels: int) -> dict[str, Any]:
    container_id: dict[str, Any] = {"value": "c0"}
    for level in range(1, levels):
        container_id = {"value": f"c{level}", "parent": container_id}
    return container_id


TRAVERSALS = [
    *("../" * up + CANARY for up in range(1, 16)),
    f"/{CANARY}",
    f"/tmp/{CANARY}",
    f"{CANARY}/..",
    f"..\\{CANARY}",
]
HOSTILE_STRINGS = [
    *TRAVERSALS,
    "",
    ".",
    "..",
    " ",
    "a.b",
    "a b",
    "\x00",
    "a\nb",
    "\x7f",
    "\ud800",
    "\udfff\ud800",
    "x" * 199,
    "x" * 200,
    "x" * 236,
    "x" * 237,
    "x" * 255,
    "x" * 256,
    "é" * 100,
    "é" * 128,
    "😀" * 60,
    "\u202e",
    "%s%n%x",
    "-rf",
    "latest",
    "meta",
]
characters = st.characters() | st.characters(categories=["Cs"])  # lone surrogates too
hostile_text = st.sampled_from(HOSTILE_STRINGS) | st.text(characters, max_size=300)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 2)
    | st.floats()
    | hostile_text
    | st.just(Raw("1" * 5000))
    | st.just(Raw("-" + "9" * 4301))
    | st.just(Raw("1e999999"))
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(characters, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
hostile_numbers = (
    st.integers()
    | st.integers(2**63 - 2, 2**64 + 2)
    | st.integers(-(2**64), -(2**63) + 2)
    | st.floats()
    | st.sampled_from([Raw("1" * 5000), Raw("1e999999"), Raw("-0"), "1", "-1", "1e3", "0x10"])
    | st.sampled_from([" 7", "9" * 30, "9" * 5000, "Infinity", "NaN", "true"])
)
structures: st.SearchStrategy[Any] = (
    st.sampled_from([{}, [], None, Raw("[" * 5000 + "]" * 5000)])
    | st.integers(2, 80).map(nested_container_id)
    | st.builds(lambda value: {"value": value}, hostile_text)
)


def replacements(current: Any) -> st.SearchStrategy[Any]:
    """Mostly a hostile value of the same JSON type, sometimes anything at all."""
    typed: st.SearchStrategy[Any] = json_values
    if isinstance(current, str):
        typed = hostile_text
    elif isinstance(current, bool):
        typed = st.sampled_from(["true", "yes", 1, 0, "", None])
    elif isinstance(current, int | float):
        typed = hostile_numbers
    elif isinstance(current, dict | list):
        typed = structures
    return st.one_of(typed, typed, typed, json_values)


def operator_calls(fresh: str = "") -> dict[str, dict[str, Any]]:
    """One real body per call type. Launches use ids ending in ``fresh``; the other calls
    name the task and container that the ``agent`` fixture launched."""
    command = {**COMMAND, "user": "nobody"}
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
    ]
    framework = {"user": "nobody", "name": "fuzz", "id": {"value": FRAMEWORK}}
    task = {
        "name": "fuzz",
        "task_id": {"value": f"fuzz-task{fresh}"},
        "agent_id": {"value": "agent"},
        "command": command,
        "resources": resources,
        "limits": {"cpus": {"value": 1}},
        "kill_policy": {"grace_period": {"nanoseconds": 1_000_000}},
        "max_completion_time": {"nanoseconds": 10_000_000_000},
        "container": {"type": "MESOS"},
    }
    executor_task = {
        **{k: v for k, v in task.items() if k != "command"},
        "task_id": {"value": f"fuzz-executor-task{fresh}"},
        "executor": {
            "executor_id": {"value": EXECUTOR},
            "framework_id": {"value": FRAMEWORK},
            "type": "CUSTOM",
            "command": command,
            "shutdown_grace_period": {"nanoseconds": 1_000_000},
        },
    }
    cid = {"value": "fuzz-container"}
    return {
        **{name: {"type": name} for name in READ_CALLS},
        "GET_CONTAINERS": {"type": "GET_CONTAINERS", "get_containers": {"show_standalone": True}},
        "LAUNCH_TASK": {
            "type": "LAUNCH_TASK",
            "launch_task": {"task": task, "framework_info": framework},
        },
        "LAUNCH_TASK with an executor": {
            "type": "LAUNCH_TASK",
            "launch_task": {"task": executor_task, "framework_info": framework},
        },
        "KILL_TASK": {
            "type": "KILL_TASK",
            "kill_task": {
                "task_id": {"value": "fuzz-task"},
                "kill_policy": {"grace_period": {"nanoseconds": 0}},
            },
        },
        "LAUNCH_CONTAINER": {
            "type": "LAUNCH_CONTAINER",
            "launch_container": {
                "container_id": {"value": f"fuzz-container{fresh}"},
                "command": command,
                "resources": resources,
            },
        },
        "WAIT_CONTAINER": {"type": "WAIT_CONTAINER", "wait_container": {"container_id": cid}},
        "KILL_CONTAINER": {
            "type": "KILL_CONTAINER",
            "kill_container": {"container_id": cid, "signal": 15},
        },
        "REMOVE_CONTAINER": {
            "type": "REMOVE_CONTAINER",
            "remove_container": {"container_id": cid},
        },
    }


READ_CALLS = ["GET_HEALTH", "GET_VERSION", "GET_FLAGS", "GET_STATE", "GET_TASKS", "SUBSCRIBE"]


def executor_calls() -> dict[str, dict[str, Any]]:
    ids = {"executor_id": {"value": EXECUTOR}, "framework_id": {"value": FRAMEWORK}}
    status = {
        "task_id": {"value": "fuzz-executor-task"},
        "state": "TASK_RUNNING",
        "source": "SOURCE_EXECUTOR",
        "uuid": UUID16,
        "executor_id": {"value": EXECUTOR},
        "container_status": {"container_id": {"value": "c"}},
    }
    calls: list[dict[str, Any]] = [
        {**ids, "type": "SUBSCRIBE", "subscribe": {"unacknowledged_updates": [{"status": status}]}},
        {**ids, "type": "UPDATE", "update": {"status": status}},
        {**ids, "type": "MESSAGE", "message": {"data": "aGVsbG8="}},
        {**ids, "type": "HEARTBEAT"},
    ]
    return {call["type"]: call for call in calls}


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``value`` (the root first), except the call's type and commands
    (but for the user they run as)."""
    yield at
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "command" and isinstance(child, dict) and "user" in child:
                yield (*at, key, "user")
            elif key != "command" and (key != "type" or at):
                yield from paths(child, (*at, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*at, index))


def names_something(at: tuple[Any, ...]) -> bool:
    """An id's value (``..._id.value``, ``id.value``, ``parent.value``) or a user."""
    if at[-1:] == ("user",):
        return True
    return len(at) >= 2 and at[-1] == "value" and str(at[-2]).endswith(("id", "parent"))


def part_at(value: Any, at: tuple[Any, ...]) -> Any:
    for key in at:
        value = value[key]
    return value


def replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``at`` (a new key in a dict is added)."""
    if not at:
        return new
    head, *rest = at
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = replaced(value[head], tuple(rest), new) if rest else new
    return copy


FIELD_NAMES = ["get_containers", "framework_info", "parent", "slave_id", "agent_id", "executor"]
FIELD_NAMES += ["container", "labels", "kill_policy", "health_check", "volumes", "subscribe"]


@st.composite
def mutated(draw: st.DrawFn, call: dict[str, Any]) -> Any:
    """``call`` with zero to three parts replaced by hostile values, or keys added."""
    value: Any = call
    for _ in range(draw(st.integers(0, 3))):
        places = list(paths(value))
        if len(places) > 1 and draw(st.booleans()):
            names = [at for at in places if names_something(at)]
            prefer_names = bool(names) and draw(st.booleans())
            at = draw(st.sampled_from(names if prefer_names else places[1:]))
            value = replaced(value, at, draw(replacements(part_at(value, at))))
        else:
            objects = [at for at in places if isinstance(part_at(value, at), dict)]
            key = draw(st.sampled_from(FIELD_NAMES) | st.text(characters, max_size=12))
            at = (*draw(st.sampled_from(objects)), key)
            value = replaced(value, at, draw(json_values | structures))
    assume(runs_only_true(value))
    return value


def runs_only_true(value: Any) -> bool:
    """Whatever else is fuzzed, an accepted task may only ever run ``true``."""
    if isinstance(value, list):
        return all(runs_only_true(item) for item in value)
    if not isinstance(value, dict):
        return True
    return all(
        runs_true(child) if key in ("command", "cmd") else runs_only_true(child)
        for key, child in value.items()
    )


def runs_true(command: Any) -> bool:
    return (
        isinstance(command, dict) and {k: v for k, v in command.items() if k != "user"} == COMMAND
    )


SHAPES = [
    *(("/api/v1", name) for name in operator_calls()),
    *(("/api/v1/executor", name) for name in executor_calls()),
]


QUERY_TARGETS = ["/files/browse", "/files/read", "/metrics", "/metrics/snapshot"]


# -- what must hold ----------------------------------------------------------------


def work_tree(agent: FuzzedAgent) -> set[str]:
    return {
        str(path.relative_to(agent.work_dir))
        for path in agent.work_dir.rglob("*")
        if not path.name.endswith(TEMPORARY_SUFFIX)
    }


def nothing_outside(agent: FuzzedAgent) -> None:
    """No canary anywhere a ``../`` or absolute id could have put one."""
    places = [Path("/"), Path("/tmp"), *agent.work_dir.parents]
    for place in places:
        assert not [name for name in os.listdir(place) if CANARY in name], place


def check_answer(agent: FuzzedAgent, status: int, text: bytes, what: str) -> None:
    assert agent.process.poll() is None, f"the agent died on {what}"
    assert status < 500, (what, status, text[:500])
    if status >= 400:
        assert text.strip(), (what, status)


def settle(agent: FuzzedAgent) -> None:
    """Wait until every task and standalone container has ended: the disk is then quiet."""
    while True:
        containers = agent.call(
            {"type": "GET_CONTAINERS", "get_containers": {"show_standalone": True}}
        )
        for entry in containers["get_containers"].get("containers", []):
            agent.call(
                {
                    "type": "WAIT_CONTAINER",
                    "wait_container": {"container_id": entry["container_id"]},
                }
            )
        tasks = agent.call({"type": "GET_TASKS"})["get_tasks"].get("launched_tasks", [])
        if not tasks:
            return
        for task in tasks:
            wait = {
                "type": "WAIT_CONTAINER",
                "wait_container": {"container_id": task["container_id"]},
            }
            agent.request("POST", "/api/v1", json.dumps(wait).encode())


def send(agent: FuzzedAgent, method: str, target: str, body: bytes, what: str) -> None:
    before = work_tree(agent)
    status, text = agent.request(method, target, body, {"Content-Type": "application/json"})
    check_answer(agent, status, text, what)
    if status >= 400:
        assert work_tree(agent) <= before, f"{what} was refused but changed the work dir"
    else:
        settle(agent)
        new_tops = {Path(p).parts[0] for p in work_tree(agent) - before}
        assert new_tops <= {"meta", "slaves", "containers"}, new_tops
    nothing_outside(agent)
    log_is_clean(agent, what)


def log_is_clean(agent: FuzzedAgent, what: str) -> None:
    """Nothing unexpected logged since the last check."""
    with agent.log.open("rb") as log:
        log.seek(agent.log_offset)
        text = log.read().decode(errors="replace")
        agent.log_offset = log.tell()
    assert MARKER not in text, (what, text[-3000:])
    assert "Traceback" not in text, (what, text[-3000:])


# -- the properties ------------------------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=2048), endpoint=st.sampled_from(["/api/v1", "/api/v1/executor"]))
def test_arbitrary_bytes(agent: FuzzedAgent, body: bytes, endpoint: str) -> None:
    send(agent, "POST", endpoint, body, f"bytes {body[:80]!r} to {endpoint}")


@FUZZ
@given(value=json_values, endpoint=st.sampled_from(["/api/v1", "/api/v1/executor"]))
def test_arbitrary_json(agent: FuzzedAgent, value: Any, endpoint: str) -> None:
    send(agent, "POST", endpoint, encode(value), f"JSON {encode(value)[:120]!r} to {endpoint}")


@pytest.mark.parametrize(
    ("endpoint", "name"),
    SHAPES,
    ids=[
        f"executor {name}" if endpoint.endswith("executor") else name for endpoint, name in SHAPES
    ],
)
@settings(FUZZ, max_examples=8)
@given(data=st.data())
def test_real_call_shapes_with_hostile_fields(
    agent: FuzzedAgent, endpoint: str, name: str, data: st.DataObject
) -> None:
    operator = endpoint == "/api/v1"
    fresh = f"-{next(EXAMPLES)}"
    call = data.draw(mutated(operator_calls(fresh)[name] if operator else executor_calls()[name]))
    send(agent, "POST", endpoint, encode(call), f"{encode(call)[:300]!r} to {endpoint}")


@FUZZ
@given(
    target=st.sampled_from([*QUERY_TARGETS, "/api/v1", "/api/v1/executor"]),
    query=st.lists(
        st.tuples(
            st.sampled_from(["path", "offset", "length", "x"]) | st.binary(max_size=8),
            st.binary(max_size=64),
        ),
        max_size=4,
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_arbitrary_query_strings(
    agent: FuzzedAgent, target: str, query: list[tuple[Any, bytes]], method: str
) -> None:
    pairs = [(k.encode() if isinstance(k, str) else k, v) for k, v in query]
    safe = "%/="  # '%' kept: malformed escapes reach the agent as they are
    text = "&".join(
        f"{quote_from_bytes(k, safe=safe)}={quote_from_bytes(v, safe=safe)}" for k, v in pairs
    )
    body = b'{"type": "GET_HEALTH"}' if method == "POST" else b""
    send(agent, method, f"{target}?{text}", body, f"{method} {target}?{text}")


PATH_SUFFIXES = ["", "/", "/stdout", "/stdout/", "//stdout", "/./stdout", "/latest", "/missing"]
PATH_SUFFIXES += ["/../../../../../../etc/passwd", "/..", "/../meta", "/%2e%2e/", "/\u00e9"]


@st.composite
def file_queries(draw: st.DrawFn, roots: list[str]) -> str:
    """``path``, ``offset`` and ``length`` around real sandboxes and the agent's own state."""
    path = draw(st.sampled_from(roots)) + draw(
        st.sampled_from(PATH_SUFFIXES) | st.text(st.characters(exclude_characters="\x00"))
    )
    numbers = st.integers(-3, 2**62) | st.text(st.characters(exclude_characters="\x00"), max_size=8)
    query = {"path": path, "offset": draw(numbers), "length": draw(numbers)}
    keys = draw(st.lists(st.sampled_from(list(query)), unique=True))
    return "&".join(
        f"{key}={quote(str(query[key]).encode(errors='surrogatepass'))}" for key in keys
    )


@settings(FUZZ, max_examples=30)
@given(data=st.data(), endpoint=st.sampled_from(["/files/browse", "/files/read"]))
def test_files_queries_near_the_sandboxes(
    agent: FuzzedAgent, data: st.DataObject, endpoint: str
) -> None:
    roots = [agent.sandbox, str(agent.work_dir), str(agent.work_dir / "meta"), "/etc/passwd", ""]
    query = data.draw(file_queries(roots))
    send(agent, "GET", f"{endpoint}?{query}", b"", f"GET {endpoint}?{query}")


def test_the_agent_is_healthy_and_logged_nothing_unexpected(agent: FuzzedAgent) -> None:
    """Runs last in this module (pytest keeps file order within the xdist group)."""
    assert agent.call({"type": "GET_HEALTH"})["get_health"]["healthy"] is True
    log_is_clean(agent, "the whole fuzz")
