"""The behaviours every container logger (``dockyard.container_loggers``) must have.

A logger only says where a container's stdout and stderr go (the ``container_output``
hook); a containerizer delivers them. So each test runs real tasks on a real in-process
agent (:class:`~dockyard.testing.AgentDriver`) with ``--container_logger`` naming the
logger under test and a real containerizer (``mesos`` unless the subclass says
otherwise), then reads back what reached the logger's destinations and compares it,
byte for byte, with what the task wrote. Tasks print numbered lines of varying length
with ``awk`` (busybox's will do), so a line cut, doubled, reordered or lost shows.

Output must be at its destination once the task's terminal status is sent;
:meth:`LoggerConformance.read_output` may wait for a destination that lags (a journal).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import BaseTestServer, TestServer

from dockyard.api.server import READY, create_app
from dockyard.containers import ContainerOutput, FileOutput, StreamOutput
from dockyard.discovery import CONTAINER_LOGGERS, CONTAINERIZERS, instantiate
from dockyard.ledger import TaskRecord
from dockyard.logfiles import rotated
from dockyard.messages import ContainerInfo, TaskInfo, TaskState
from dockyard.testing.conformance.suite import ConformanceSuite
from dockyard.testing.driver import AgentDriver
from dockyard.testing.factories import config_for_task, task_info
from dockyard.testing.plugins import make_host

LOGGER_BEHAVIOURS = {
    "entry_point": "the logger is installed under its entry point",
    "sandbox_files": "the logger's files are in the sandbox, served by /files/browse and "
    "/files/read",
    "restart": "output written while the agent is down, and after it restarts, arrives "
    "once and in order",
    "binary": "bytes that are not UTF-8 (NUL, invalid sequences) arrive unchanged",
}
"""Behaviours a subclass may declare unsupported (``unsupported = {name: reason}``).
Lines arriving whole and in order per stream, nothing lost at EOF, large bursts and
short-lived containers are required of every logger."""

STREAMS = ("stdout", "stderr")
SANDBOX = "${MESOS_SANDBOX:?is not set}"
PAD = "x" * 100


def numbered_lines(tag: str, first: int, last: int) -> bytes:
    """What :func:`numbered_lines_command` prints: ``<tag><8 digits> <0-99 x>\\n`` each."""
    return b"".join(
        b"%s%08d %s\n" % (tag.encode(), n, PAD[: n % 100].encode()) for n in range(first, last + 1)
    )


def numbered_lines_command(tag: str, first: int, last: int, *, stderr: bool = False) -> str:
    """A shell command printing :func:`numbered_lines` (to stderr if asked) with awk."""
    program = (
        f'BEGIN {{ pad = "{PAD}"; for (i = {first}; i <= {last}; i++) '
        f'printf "%s%08d %s\\n", "{tag}", i, substr(pad, 1, i % 100) }}'
    )
    return f"awk '{program}'" + (" >&2" if stderr else "")


def wait_for(name: str) -> str:
    """Shell that blocks until the test creates ``name`` in the sandbox."""
    return f'until [ -e "{SANDBOX}/{name}" ]; do sleep 0.05; done'


class LoggerConformance(ConformanceSuite):
    """Subclass in a test module to check a container logger::

        from dockyard.testing.conformance import LoggerConformance

        class TestJournald(LoggerConformance):
            unsupported = {"sandbox_files": "output goes to the journal"}

            @pytest.fixture
            def logger_name(self) -> str:
                return "journald"

            async def read_output(self, agent, record, stream) -> bytes:
                ...  # what the journal holds for this container's stream

    Fixtures to override: ``logger_name`` (required), ``logger_factory`` (a callable
    returning a fresh logger; by default the entry point's), ``containerizer_name``
    (default ``mesos``), ``containerizer_factory``, ``container_info`` (None for a native
    containerizer, a DOCKER ContainerInfo with a local image for ``docker``),
    ``agent_flags`` (e.g. a small rotation size, with enough rotated files kept for
    :attr:`burst_bytes`), ``task_labels``. Class attributes: ``unsupported`` (see
    :data:`LOGGER_BEHAVIOURS`), ``timeout``, ``burst_bytes``, ``short_lived``. Method to
    override for destinations that are not files: :meth:`read_output`.
    """

    behaviours: ClassVar[Mapping[str, str]] = LOGGER_BEHAVIOURS
    timeout: ClassVar[float] = 60.0
    burst_bytes: ClassVar[int] = 4 << 20
    """Bytes written as fast as possible to each stream at once by the burst test."""
    short_lived: ClassVar[int] = 10
    """Containers launched together by the short-lived test."""

    # -- what a subclass provides ------------------------------------------------

    @pytest.fixture
    def logger_name(self) -> str:
        """Override: the logger's name in ``dockyard.container_loggers``."""
        pytest.fail("define a `logger_name` fixture in your conformance subclass")

    @pytest.fixture
    def logger_factory(self, logger_name: str) -> Callable[[], object]:
        return _entry_point_factory(CONTAINER_LOGGERS, logger_name)

    @pytest.fixture
    def containerizer_name(self) -> str:
        """The containerizer that delivers the output (its entry point's name)."""
        return "mesos"

    @pytest.fixture
    def containerizer_factory(self, containerizer_name: str) -> Callable[[], object]:
        return _entry_point_factory(CONTAINERIZERS, containerizer_name)

    @pytest.fixture
    def container_info(self) -> ContainerInfo | None:
        """The ContainerInfo of every task; None for a native containerizer."""
        return None

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        """Extra agent flags (``--name=value``), e.g. the logger's own."""
        return []

    @pytest.fixture
    def task_labels(self) -> Mapping[str, str]:
        """Labels put on every task (lets a docker test find its containers)."""
        return {}

    async def read_output(self, agent: AgentDriver, record: TaskRecord, stream: str) -> bytes:
        """Everything of ``stream`` that reached the logger's destination, oldest first.

        By default: the destination file and its rotated copies (``stdout.N`` ...
        ``stdout.1``, ``stdout``). Override for destinations that are not files.
        """
        destination = self.destination(agent, record, stream)
        if not isinstance(destination, FileOutput):
            pytest.fail(
                f"{stream} goes to a {type(destination).__name__}: override read_output "
                "to read it back",
                pytrace=False,
            )
        return b"".join(path.read_bytes() for path in files_of(destination))

    # -- the suite's own fixtures and helpers ----------------------------------------

    def destination(self, agent: AgentDriver, record: TaskRecord, stream: str) -> StreamOutput:
        """Where the logger sends ``stream`` of the task's container."""
        output = self.output_of(agent, record)
        destination: StreamOutput = getattr(output, stream)
        return destination

    def output_of(self, agent: AgentDriver, record: TaskRecord) -> ContainerOutput:
        (name,) = agent.host.names(CONTAINER_LOGGERS)
        return agent.host.container_output(
            name, config_for_task(record.task, sandbox=record.sandbox)
        )

    @pytest_asyncio.fixture
    async def agent(
        self,
        tmp_path: Path,
        logger_name: str,
        logger_factory: Callable[[], object],
        containerizer_name: str,
        containerizer_factory: Callable[[], object],
        agent_flags: Sequence[str],
    ) -> AsyncIterator[AgentDriver]:
        async with AgentDriver(
            tmp_path / "work",
            {containerizer_name: containerizer_factory()},
            loggers={logger_name: logger_factory()},
            flags=[f"--container_logger={logger_name}", *agent_flags],
            timeout=self.timeout,
        ) as driver:
            yield driver

    @pytest.fixture
    def make_task(
        self, container_info: ContainerInfo | None, task_labels: Mapping[str, str]
    ) -> Callable[..., TaskInfo]:
        def make(command: str, **fields: Any) -> TaskInfo:
            fields.setdefault("container", copy.deepcopy(container_info))
            fields.setdefault("labels", dict(task_labels) or None)
            return task_info(command, **fields)

        return make

    async def assert_output(
        self, agent: AgentDriver, record: TaskRecord, expected: Mapping[str, bytes]
    ) -> None:
        """Each stream holds exactly ``expected``; on a mismatch, where it starts."""
        for stream, wanted in expected.items():
            got = await self.read_output(agent, record, stream)
            assert got == wanted, describe_mismatch(stream, got, wanted)

    # -- registration ----------------------------------------------------------------

    def test_entry_point_loads_the_logger(
        self, logger_name: str, logger_factory: Callable[[], object]
    ) -> None:
        self.require("entry_point")
        found = entry_points(group=CONTAINER_LOGGERS, name=logger_name)
        assert found, f"no entry point '{logger_name}' in group {CONTAINER_LOGGERS}"
        (entry_point,) = found
        assert type(instantiate(entry_point.load())) is type(logger_factory())

    def test_registers_with_the_required_hooks(
        self, logger_name: str, logger_factory: Callable[[], object]
    ) -> None:
        make_host({}, loggers={logger_name: logger_factory()})

    @pytest.mark.asyncio
    async def test_gives_the_same_answer_twice(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        """The hook is asked again for a recovered container: it must not move the output."""
        record = await agent.launch(make_task("true"))
        assert self.output_of(agent, record) == self.output_of(agent, record)
        (await agent.result(record)).assert_finished()

    # -- what arrives ----------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_lines_arrive_whole_and_in_order_on_each_stream(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        chunks = [(n * 1000 + 1, n * 1000 + 1000) for n in range(10)]
        command = "; ".join(
            f"{numbered_lines_command('out', a, b)}; "
            f"{numbered_lines_command('err', a, b, stderr=True)}"
            for a, b in chunks
        )
        record = await agent.launch(make_task(command))
        (await agent.result(record)).assert_finished()
        await self.assert_output(
            agent,
            record,
            {
                "stdout": numbered_lines("out", 1, 10_000),
                "stderr": numbered_lines("err", 1, 10_000),
            },
        )

    @pytest.mark.asyncio
    async def test_nothing_is_lost_at_eof(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        command = "printf 'first\\nno newline at the end'; printf 'err without newline' >&2"
        record = await agent.launch(make_task(command))
        (await agent.result(record)).assert_finished()
        await self.assert_output(
            agent,
            record,
            {"stdout": b"first\nno newline at the end", "stderr": b"err without newline"},
        )

    @pytest.mark.asyncio
    async def test_a_large_burst_on_both_streams_arrives_whole(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        count = self.burst_bytes // 59  # numbered lines average 59 bytes
        command = (
            f"{numbered_lines_command('o', 1, count)} & "
            f"{numbered_lines_command('e', 1, count, stderr=True)} & wait"
        )
        record = await agent.launch(make_task(command))
        (await agent.result(record)).assert_finished()
        await self.assert_output(
            agent,
            record,
            {"stdout": numbered_lines("o", 1, count), "stderr": numbered_lines("e", 1, count)},
        )

    @pytest.mark.asyncio
    async def test_bytes_that_are_not_utf8_arrive_unchanged(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("binary")
        weird = "\\000\\001\\377\\376 \\300\\200 caf\\351 \\342\\202 \\033[31m\\r\\n\\000"
        record = await agent.launch(make_task(f"printf '{weird}'; printf '{weird}' >&2"))
        (await agent.result(record)).assert_finished()
        expected = b"\x00\x01\xff\xfe \xc0\x80 caf\xe9 \xe2\x82 \x1b[31m\r\n\x00"
        await self.assert_output(agent, record, {"stdout": expected, "stderr": expected})

    @pytest.mark.asyncio
    async def test_short_lived_containers_each_get_their_own_output(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        """Containers that end before anything could read them, many at once."""
        tasks = [
            make_task(f"printf 'only {n}\\n'; printf 'err {n}' >&2")
            for n in range(self.short_lived)
        ]
        records = await asyncio.gather(*(agent.launch(task) for task in tasks))
        for n, record in enumerate(records):
            (await agent.result(record)).assert_finished()
            await self.assert_output(
                agent, record, {"stdout": b"only %d\n" % n, "stderr": b"err %d" % n}
            )

    # -- the sandbox -----------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_files_are_served_by_the_files_api(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("sandbox_files")
        command = (
            f"{numbered_lines_command('out', 1, 20_000)}; "
            f"{numbered_lines_command('err', 1, 2_000, stderr=True)}"
        )
        record = await agent.launch(make_task(command))
        (await agent.result(record)).assert_finished()
        app = create_app(agent.agent, agent.agent.flags)
        app[READY].set()
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            for stream in STREAMS:
                destination = self.destination(agent, record, stream)
                assert isinstance(destination, FileOutput), f"{stream} is not a file"
                assert destination.path.is_relative_to(record.sandbox), (
                    f"{stream} goes to {destination.path}, outside the sandbox {record.sandbox}"
                )
                listed = await get_json(
                    session, server, "/files/browse", path=str(destination.path.parent)
                )
                names = {Path(entry["path"]).name: entry["size"] for entry in listed}
                served = b""
                for path in files_of(destination):
                    assert names.get(path.name) == path.stat().st_size, (
                        f"/files/browse does not list {path.name} with its size: {names}"
                    )
                    served += await read_served(session, server, path)
                assert served == await self.read_output(agent, record, stream)

    # -- restarts --------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_output_across_an_agent_restart(
        self,
        agent: AgentDriver,
        make_task: Callable[..., TaskInfo],
        logger_name: str,
        logger_factory: Callable[[], object],
        containerizer_name: str,
        containerizer_factory: Callable[[], object],
    ) -> None:
        self.require("restart")
        command = "; ".join(
            [
                numbered_lines_command("out", 1, 5_000),
                numbered_lines_command("err", 1, 500, stderr=True),
                f'touch "{SANDBOX}/before"',
                wait_for("down"),
                numbered_lines_command("out", 5_001, 10_000),
                numbered_lines_command("err", 501, 1_000, stderr=True),
                f'touch "{SANDBOX}/during"',
                wait_for("up"),
                numbered_lines_command("out", 10_001, 15_000),
                numbered_lines_command("err", 1_001, 1_500, stderr=True),
            ]
        )
        record = await agent.launch(make_task(command))
        await agent.wait_for_file(record, "before")
        await agent.stop()
        (record.sandbox / "down").touch()
        await agent.wait_for_file(record, "during")
        await agent.restart(
            {containerizer_name: containerizer_factory()}, loggers={logger_name: logger_factory()}
        )
        assert agent.task(record).state is TaskState.TASK_RUNNING
        (record.sandbox / "up").touch()
        (await agent.result(record)).assert_finished()
        await self.assert_output(
            agent,
            agent.task(record),
            {"stdout": numbered_lines("out", 1, 15_000), "stderr": numbered_lines("err", 1, 1_500)},
        )


def _entry_point_factory(group: str, name: str) -> Callable[[], object]:
    def load() -> object:
        found = entry_points(group=group, name=name)
        assert found, f"no entry point '{name}' in group {group}"
        (entry_point,) = found
        return instantiate(entry_point.load())

    return load


def files_of(destination: FileOutput) -> list[Path]:
    """A file destination's files, oldest first: its rotated copies, then the file."""
    kept = destination.rotation.max_files if destination.rotation is not None else 0
    older = (rotated(destination.path, number) for number in range(kept, 0, -1))
    return [*(path for path in older if path.exists()), destination.path]


def describe_mismatch(stream: str, got: bytes, wanted: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, wanted, strict=False)) if a != b), None)
    if at is None:
        at = min(len(got), len(wanted))
    return (
        f"{stream}: {len(got)} bytes arrived, {len(wanted)} were written; they differ from "
        f"byte {at}: got {got[max(0, at - 40) : at + 40]!r}, wanted "
        f"{wanted[max(0, at - 40) : at + 40]!r}"
    )


async def get_json(
    session: aiohttp.ClientSession, server: BaseTestServer, endpoint: str, **params: str
) -> Any:
    async with session.get(server.make_url(endpoint), params=params) as response:
        assert response.status == 200, f"{endpoint} {params}: {await response.text()}"
        return await response.json()


async def read_served(session: aiohttp.ClientSession, server: BaseTestServer, path: Path) -> bytes:
    """A file as ``/files/read`` serves it (text, so compared as UTF-8 bytes)."""
    data = b""
    while True:
        answer = await get_json(
            session, server, "/files/read", path=str(path), offset=str(len(data)), length="1048576"
        )
        if not answer["data"]:
            return data
        data += answer["data"].encode()
