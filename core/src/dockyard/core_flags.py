"""The core's own agent flags (owner ``core``), with Mesos's names and defaults.

Those that plugins read are typed handles here (see :func:`dockyard.flags.define`).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dockyard.flags import (
    BOOL,
    DURATION,
    FLOAT,
    INT,
    JSON,
    STRING,
    STRING_LIST,
    STRING_MAP,
    FlagSet,
    choice,
    define,
    message,
)
from dockyard.messages import ContainerInfo

IP = define("ip", STRING, default="127.0.0.1", help="IP address the HTTP API listens on.")
EXECUTOR_SHUTDOWN_GRACE_PERIOD = define(
    "executor_shutdown_grace_period",
    DURATION,
    default="5secs",
    help="Default time between the stop signal and the forced kill; a task's kill "
    "policy or ExecutorInfo.shutdown_grace_period overrides it.",
)
CGROUPS_ENABLE_CFS = define(
    "cgroups_enable_cfs",
    BOOL,
    default=False,
    help="Give a task with no cpus limit a hard CPU quota of its cpus request "
    "(100ms CFS period), in Docker containers and in the mesos containerizer's cgroups.",
)
"""The core's flags that plugins read, as typed handles (``IP.get(context.flags)``)."""


def default_work_dir() -> Path:
    """Root uses ``/var/lib/dockyard``; anyone else their XDG data dir, so no flag is needed."""
    if os.geteuid() == 0:
        return Path("/var/lib/dockyard")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "dockyard"


def core_flag_set(command: str | None = None) -> FlagSet:
    """A fresh registry holding the core's flags; plugins add theirs to it."""
    flags = FlagSet("core", command=command)
    flags.add(
        "work_dir",
        STRING,
        default=str(default_work_dir()),
        help="Directory for sandboxes and agent state (meta/).",
    )
    flags.add(
        "containerizers",
        STRING_LIST,
        default=["mesos"],
        help="Comma-separated containerizers, tried in this order for each container.",
    )
    flags.add(
        "container_logger",
        STRING,
        default="sandbox",
        help="The container logger (entry-point group dockyard.container_loggers) that "
        "says where containers' stdout and stderr go: sandbox (the sandbox's stdout and "
        "stderr files) or logrotate (the same files, rotated; see the logrotate flags).",
    )
    flags.add(
        "strict_json",
        BOOL,
        default=False,
        help="Refuse JSON with keys the schemas do not know (400, or dockyard launch "
        "fails), naming each and a close known field; by default they are ignored, as "
        "Mesos does, with a warning in the log and the response.",
    )
    flags.declare(IP)
    flags.add("port", INT, default=5051, help="Port the HTTP API listens on.")
    flags.add(
        "hostname",
        STRING,
        default=socket.gethostname(),
        help="Hostname the agent reports (AgentInfo.hostname).",
    )
    flags.add(
        "default_container_info",
        message(ContainerInfo),
        help="ContainerInfo given to tasks and executors that have none "
        '(e.g. {"type": "DOCKER", "docker": {"image": "alpine"}}).',
    )
    flags.add(
        "executor_registration_timeout",
        DURATION,
        default="1mins",
        help="How long a container may take to start (fetch and image pull included) "
        "before it is destroyed and the task fails.",
    )
    flags.add(
        "executor_reregistration_timeout",
        DURATION,
        default="2secs",
        help="After an agent restart, how long a recovered executor has to subscribe again "
        "before it is destroyed and its tasks are lost.",
    )
    flags.declare(EXECUTOR_SHUTDOWN_GRACE_PERIOD)
    flags.add(
        "switch_user",
        BOOL,
        default=True,
        help="Run tasks as CommandInfo.user or the framework user (needs root).",
    )
    flags.declare(CGROUPS_ENABLE_CFS)
    flags.add(
        "http_credentials",
        JSON,
        secret=True,
        help='Credentials for HTTP authentication: {"credentials": '
        '[{"principal": ..., "secret": ...}]}.',
    )
    flags.add(
        "http_allowed_hosts",
        STRING_LIST,
        default=[],
        help="Host names (comma-separated) that clients may use to reach the API besides IP "
        "addresses, localhost, --hostname and the machine's name; '*' allows any. Other "
        "Host headers get 403 (against DNS rebinding).",
    )
    flags.add(
        "authenticate_http_readonly",
        BOOL,
        default=False,
        help="Require authentication for the calls and endpoints that only read the agent's "
        "state: GET_FLAGS, GET_STATE, GET_TASKS, GET_CONTAINERS, WAIT_CONTAINER, SUBSCRIBE, "
        "/files/* and /metrics*.",
    )
    flags.add(
        "authenticate_http_readwrite",
        BOOL,
        default=False,
        help="Require authentication for every /api/v1 call (as Mesos does for its v1 "
        "operator API), the calls that change state and those that read it.",
    )
    flags.add(
        "web_ui",
        BOOL,
        default=True,
        help="Serve the web UI at / (tasks, sandboxes, agent); --no-web_ui turns it off. "
        "It uses the API with the same authentication.",
    )
    flags.add(
        "authenticate_http_executors",
        BOOL,
        default=True,
        help="Require executors to authenticate to the executor API with the token in their "
        "MESOS_EXECUTOR_AUTHENTICATION_TOKEN (on by default, unlike Mesos; turning it off "
        "lets any local process pose as any executor).",
    )
    flags.add(
        "executor_secret_key",
        STRING,
        help="Path to a file holding the key (at least 32 bytes) that signs executor tokens; "
        "by default a key generated once and kept in <work_dir>/meta/executor_secret_key.",
    )
    flags.add(
        "recover",
        choice("reconnect", "cleanup"),
        default="reconnect",
        help="After a restart: 'reconnect' to running containers, or 'cleanup' to kill "
        "them and exit.",
    )
    flags.add(
        "executor_environment_variables",
        STRING_MAP,
        help="JSON object of string values: the base environment of every task.",
    )
    flags.add(
        "max_completed_executors_per_framework",
        INT,
        default=150,
        help="Completed executors (a command task is its own) of each framework kept in "
        "memory and in GET_TASKS; older ones stay on disk until their sandbox is collected.",
    )
    flags.add(
        "max_completed_tasks_per_framework",
        INT,
        default=1000,
        help="Completed tasks of each framework kept in memory and in GET_TASKS.",
    )
    flags.add(
        "gc_delay",
        DURATION,
        default="1weeks",
        help="How long after a container ended its sandbox (and its tasks' records) is "
        "removed; sooner as the disk fills (see --gc_disk_headroom).",
    )
    flags.add(
        "gc_disk_headroom",
        FLOAT,
        default=0.1,
        help="Fraction of the work_dir's disk to keep free: sandboxes may live "
        "gc_delay * max(0, 1 - headroom - disk usage).",
    )
    flags.add(
        "disk_watch_interval",
        DURATION,
        default="1mins",
        help="How often the work_dir's disk usage is checked for garbage collection.",
    )
    return flags
