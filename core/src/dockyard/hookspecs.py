"""Hook specifications: the whole extension surface of dockyard, in one file.

A containerizer plugin is an object (module or class instance) registered under
the entry-point group ``dockyard.containerizers``; its entry-point name is the
value used in ``--containerizers``. A fetcher plugin is registered under
``dockyard.fetchers``, a container logger under ``dockyard.container_loggers`` (its
name is the value of ``--container_logger``). Implementations are marked with
:data:`dockyard.hookimpl`.

Containerizer hooks are called **on one plugin at a time**: the core picks the
first containerizer in ``--containerizers`` order whose :func:`supports` accepts
the container, and from then on calls only that plugin's hooks for it.
Coroutine hooks (``async def``) are awaited by the core on the agent's event
loop; they must not block it (run blocking calls in a thread).

``docs/plugins.md`` documents each hook; a test fails if one is missing there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from dockyard import hookspec

if TYPE_CHECKING:
    from dockyard.containers import (
        AgentContext,
        ContainerConfig,
        ContainerOutput,
        Launched,
        RecoveredContainer,
        Support,
        Termination,
    )
    from dockyard.flags import FlagSet
    from dockyard.messages import URI, CommandInfo, ContainerID, ResourceStatistics


# -------------------------------------------------------------------------
# Start-up and shut-down (every plugin)
# -------------------------------------------------------------------------


@hookspec
def add_flags(flags: FlagSet) -> None:
    """Declare the plugin's own agent flags.

    Called on every *installed* plugin, enabled or not, before the command line
    is parsed, so that ``--help`` lists every flag and a flag of a disabled plugin
    is still accepted.

    :param flags: the registry; ``flags.declare(...)`` the handles made by
        :func:`dockyard.flags.define` (or ``flags.add(...)`` each flag, untyped).
    """


@hookspec
def start(context: AgentContext) -> Awaitable[None]:
    """Start the plugin once flags are parsed. Called on enabled plugins only.

    Check the environment here (a daemon to connect to, a binary to find) and
    raise :class:`dockyard.containers.StartupError` with an actionable message if
    the plugin cannot work: the agent then refuses to start.

    :param context: parsed flags, agent id, work dir and a state dir private to
        this plugin.
    """


@hookspec
def stop() -> Awaitable[None]:
    """Release resources at agent shut-down. Containers must keep running."""


# -------------------------------------------------------------------------
# Launch path (containerizers, except fetch_schemes and fetch)
# -------------------------------------------------------------------------


@hookspec
def supports(config: ContainerConfig) -> Support:
    """Say whether this containerizer runs ``config``; must not block or fail.

    Return ``Support.yes()`` or ``Support.no(reason)``. A refusal lets the next
    containerizer in ``--containerizers`` order try; the reasons of all refusals
    are reported if none accepts.

    :param config: the container to run; ``config.container_info`` is None for a
        task with no ContainerInfo.
    """


@hookspec
def fetch_schemes() -> Collection[str]:
    """Name the URI schemes this fetcher fetches: the core routes those URIs to it.

    Implemented by fetcher plugins; called once on each, after :func:`start`.
    Schemes are RFC 3986 names in lower case without the colon (``"data"``,
    ``"s3"``); ``""`` stands for plain paths (``/abs/path``, or a relative one with
    ``--frameworks_home``) and ``"*"`` for every scheme no fetcher names. A URI goes
    to the fetchers that name its scheme, in entry-point name order, then to the
    ``"*"`` ones; a URI no fetcher takes fails the launch, naming the URI and what
    the fetchers take. A fetcher with :func:`fetch` but not this hook takes ``"*"``.
    """


@hookspec
def fetch(config: ContainerConfig, uris: Sequence[URI]) -> Awaitable[None] | None:
    """Fetch ``uris`` into ``config.sandbox`` before the container is prepared.

    Implemented by fetcher plugins (group ``dockyard.fetchers``), and called on one
    fetcher at a time with a run of consecutive URIs of the command that were routed
    to it (see :func:`fetch_schemes`); the runs are fetched one after the other, in
    the order given, so fetch a run's URIs concurrently if you like but put them in
    place in order (the later of two URIs on one path wins). Return an awaitable that
    fetches them all, or None to decline them: each then goes on to the next fetcher
    that takes its scheme (an ``async def`` cannot decline: it always returns one).
    Raise :class:`dockyard.containers.LaunchError` with ``Failed to fetch '<uri>':
    <why>`` on failure (any other exception fails the launch too, naming the
    fetcher). Called only when there are URIs.

    :param config: the container; its sandbox exists and belongs to ``config.user``.
    :param uris: the URIs of the run, in the order given.
    """


@hookspec
def prepare(config: ContainerConfig) -> Awaitable[None]:
    """Get ready to launch after the fetch: pull an image, create a cgroup...

    Raise :class:`dockyard.containers.LaunchError` on failure. The core calls
    :func:`destroy` if a kill arrives meanwhile, so long work must be cancellable
    (``asyncio.CancelledError`` may be raised into it).
    """


@hookspec
def launch(config: ContainerConfig) -> Awaitable[Launched]:
    """Start the container and return once it is running.

    A failure raises :class:`dockyard.containers.LaunchError`: the task ends
    TASK_FAILED with ``REASON_CONTAINER_LAUNCH_FAILED`` and, unlike a refusal in
    :func:`supports`, no other containerizer is tried (Mesos's rule).

    :returns: a :class:`dockyard.containers.Launched` whose ``handle`` is
        checkpointed for :func:`recover`, and optional ``data`` and
        ``container_status`` for the TASK_RUNNING update.
    """


@hookspec
def wait(container_id: ContainerID) -> Awaitable[Termination | None]:
    """Wait for a container of this plugin to end.

    May be called several times, concurrently, and after the container ended.
    Returns None for a container the plugin does not know (never raises for it).
    """


@hookspec
def destroy(
    container_id: ContainerID, grace_period: timedelta | None
) -> Awaitable[Termination | None]:
    """Stop a container: a graceful signal, then a forced kill after ``grace_period``.

    ``grace_period`` is None for the plugin's own default. Returns the container's
    termination, or None if the plugin does not know the container. Nothing the
    container started may survive it.
    """


@hookspec
def kill(container_id: ContainerID, signal: int) -> Awaitable[bool]:
    """Send ``signal`` to a running container (``KILL_CONTAINER``).

    Returns False if the container is unknown or already gone.
    """


@hookspec
def exec_in_container(
    container_id: ContainerID, command: CommandInfo, time_limit: timedelta
) -> Awaitable[int | None]:
    """Run ``command`` inside a running container, as a COMMAND health check does.

    "Inside" means with what the task sees: its mount and network namespaces for a
    Docker container (``docker exec``), its sandbox, user, environment and cgroup
    for a native one. Kill it after ``time_limit``. Returns the raw ``wait(2)``
    status, or None for an unknown container.
    """


@hookspec
def usage(container_id: ContainerID) -> Awaitable[ResourceStatistics | None]:
    """Current resource usage of a container, or None if unknown."""


@hookspec
def watch_progress(report: Callable[[str], None]) -> None:
    """Report the progress of long work (downloads, image pulls) to a front end.

    ``dockyard launch`` calls it once on enabled plugins; call ``report`` with a
    one-line description (``app.tgz  3.0/12.0 MiB  25%``) whenever progress is
    made, at most a few times a second. ``report`` never raises.
    """


@hookspec
def metrics() -> Mapping[str, float]:
    """The plugin's metrics for ``/metrics/snapshot``, keyed Mesos style.

    Called on enabled plugins for every snapshot, so it must be cheap (return
    counters kept up to date, do no I/O). Example keys:
    ``containerizer/fetcher/task_fetches_succeeded``, ``containerizer/docker/pulls``.
    """


# -------------------------------------------------------------------------
# Recovery after an agent restart (containerizers)
# -------------------------------------------------------------------------


@hookspec
def recover(containers: Sequence[RecoveredContainer]) -> Awaitable[Sequence[ContainerID]]:
    """Reattach to the containers this plugin launched before the agent stopped.

    Called once at start-up, after :func:`start`, with the checkpointed containers
    the core recorded for this plugin. Return the ids the plugin still knows
    (running, or ended while the agent was down); :func:`wait` must then report
    their real termination. A container not returned ends TASK_FAILED with
    ``REASON_EXECUTOR_TERMINATED``. Containers of this agent that no checkpoint
    names are orphans and may be cleaned up here; anything not started by this
    agent must never be touched.
    """


@hookspec
def forget(container_id: ContainerID) -> Awaitable[None]:
    """The core has durably recorded this container's end: drop what you keep about it.

    Optional. Called once per ended container of this plugin, after the core's own
    record of its end (the task's terminal update, the executor's or standalone
    container's checkpoint) is durable, also for a container that ended while the
    agent was down; for a standalone container, at ``REMOVE_CONTAINER``. Never called
    for a running container. Until then, keep what :func:`recover` and :func:`wait`
    need to report the real termination after a crash; after it, :func:`wait` and
    :func:`destroy` may return None for the container. An exception is logged and
    otherwise ignored.
    """


# -------------------------------------------------------------------------
# Container loggers (the one named by --container_logger)
# -------------------------------------------------------------------------


@hookspec
def container_output(config: ContainerConfig) -> ContainerOutput:
    """Say where a container's stdout and stderr go (Mesos's ``ContainerLogger``).

    Implemented by container loggers (group ``dockyard.container_loggers``) and called
    on the one ``--container_logger`` names, for every container before its
    containerizer's :func:`prepare`, and again for each container offered to
    :func:`recover` after an agent restart: give the same answer both times. The
    result reaches the containerizer as ``config.output``.

    Return a :class:`dockyard.containers.ContainerOutput` of two destinations, each
    a ``FileOutput(path, rotation)`` (a file, optionally rotated at a size) or a
    ``UnixSocketOutput(path, preamble)`` (a unix stream socket, such as journald's
    ``/run/systemd/journal/stdout``, which the containerizer connects to and greets
    with ``preamble``). Both built-in containerizers deliver every destination
    without an extra process or thread per container. Must not block; raise
    :class:`dockyard.containers.LaunchError` to refuse a container (a bad per-task
    setting in ``config.command.environment``): its launch fails with the message.
    """
