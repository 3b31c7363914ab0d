"""A Mesos v1 HTTP executor written with the standard library only.

It runs each task's ``data`` (base64 of a shell command) with ``/bin/sh -c`` and
reports TASK_STARTING, TASK_RUNNING and the terminal state. With
MESOS_CHECKPOINT=1 it survives an agent restart: it reconnects with backoff and
resubscribes with its unacknowledged updates. A task whose command is ``crash``
makes the executor exit at once (to test executor crashes). Like Mesos's executor
libraries, it authenticates every call with MESOS_EXECUTOR_AUTHENTICATION_TOKEN
when the agent gave it one.
"""

import base64
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

ENDPOINT = os.environ["MESOS_AGENT_ENDPOINT"]
FRAMEWORK_ID = {"value": os.environ["MESOS_FRAMEWORK_ID"]}
EXECUTOR_ID = {"value": os.environ["MESOS_EXECUTOR_ID"]}
CHECKPOINT = os.environ.get("MESOS_CHECKPOINT") == "1"
HEADERS = {"Content-Type": "application/json"}
if "MESOS_EXECUTOR_AUTHENTICATION_TOKEN" in os.environ:
    HEADERS["Authorization"] = f"Bearer {os.environ['MESOS_EXECUTOR_AUTHENTICATION_TOKEN']}"

lock = threading.Lock()
unacknowledged: dict[str, dict[str, Any]] = {}  # uuid (base64) -> update
tasks: dict[str, dict[str, Any]] = {}  # task id -> TaskInfo JSON
processes: dict[str, subprocess.Popen[bytes]] = {}
killed: set[str] = set()


def post(body: dict[str, Any]) -> int:
    host, port = ENDPOINT.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", "/api/v1/executor", json.dumps(body), HEADERS)
        response = connection.getresponse()
        response.read()
        status: int = response.status
        return status
    finally:
        connection.close()


def call(kind: str, **body: Any) -> dict[str, Any]:
    return {"type": kind, "framework_id": FRAMEWORK_ID, "executor_id": EXECUTOR_ID, **body}


def update(task_id: str, state: str, message: str | None = None) -> None:
    status: dict[str, Any] = {
        "task_id": {"value": task_id},
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        "timestamp": time.time(),
        "executor_id": EXECUTOR_ID,
    }
    if message:
        status["message"] = message
    with lock:
        unacknowledged[status["uuid"]] = {"status": status}
    with contextlib.suppress(OSError):  # resent on resubscription
        post(call("UPDATE", update={"status": status}))


def run(task: dict[str, Any]) -> None:
    task_id = task["task_id"]["value"]
    command = base64.b64decode(task.get("data", "")).decode()
    if command == "crash":
        os._exit(7)
    update(task_id, "TASK_STARTING")
    process = subprocess.Popen(["/bin/sh", "-c", command], start_new_session=True)
    processes[task_id] = process
    update(task_id, "TASK_RUNNING")
    code = process.wait()
    if task_id in killed:
        update(task_id, "TASK_KILLED", "Killed by the executor")
    elif code == 0:
        update(task_id, "TASK_FINISHED", "Command exited with status 0")
    else:
        update(task_id, "TASK_FAILED", f"Command exited with status {code}")


def kill(task_id: str, grace: float) -> None:
    process = processes.get(task_id)
    killed.add(task_id)
    if process is None:
        update(task_id, "TASK_KILLED", "Killed before it started")
        return
    if process.poll() is not None:  # already ended and reported
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def events(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    while True:
        header = response.readline()
        if not header:
            return
        yield json.loads(response.read(int(header)))


def subscribe() -> None:
    host, port = ENDPOINT.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port))
    with lock:
        body = {
            "unacknowledged_tasks": [t for t in tasks.values()],
            "unacknowledged_updates": list(unacknowledged.values()),
        }
    connection.request(
        "POST", "/api/v1/executor", json.dumps(call("SUBSCRIBE", subscribe=body)), HEADERS
    )
    response = connection.getresponse()
    if response.status != 200:
        raise OSError(f"subscribe answered {response.status}")
    for event in events(response):
        kind = event["type"]
        if kind == "LAUNCH":
            task = event["launch"]["task"]
            tasks[task["task_id"]["value"]] = task
            threading.Thread(target=run, args=(task,), daemon=True).start()
        elif kind == "KILL":
            grace = (
                event["kill"].get("kill_policy", {}).get("grace_period", {}).get("nanoseconds", 3e9)
            )
            threading.Thread(
                target=kill, args=(event["kill"]["task_id"]["value"], grace / 1e9), daemon=True
            ).start()
        elif kind == "ACKNOWLEDGED":
            with lock:
                unacknowledged.pop(event["acknowledged"]["uuid"], None)
        elif kind == "SHUTDOWN":
            for task_id in list(processes):
                kill(task_id, 1)
            sys.exit(0)


def main() -> None:
    delay = 0.1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            subscribe()
        if not CHECKPOINT:
            return
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


if __name__ == "__main__":
    main()
