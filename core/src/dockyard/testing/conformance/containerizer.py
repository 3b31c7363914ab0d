"""The behaviours every containerizer must have, as a test class to subclass.

Each test drives a real in-process agent (:class:`~dockyard.testing.AgentDriver`)
whose only containerizer is a fresh instance of the plugin under test; an agent
restart is a new instance on the same work dir. Tasks coordinate with the test
through files in their sandbox (``$MESOS_SANDBOX/go``, ``ready``...), never through
sleeps, so the suite is as fast as the backend.
"""

from __future__ import annotations

import asyncio
import copy
import re
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from dockyard.discovery import CONTAINERIZERS, instantiate
from dockyard.messages import (
    CommandInfo,
    ContainerID,
    ContainerInfo,
    ContainerType,
    TaskInfo,
    TaskState,
)
from dockyard.statuses import exit_code
from dockyard.testing.conformance.suite import ConformanceSuite
from dockyard.testing.driver import AgentDriver
from dockyard.testing.factories import (
    config_for_task,
    docker_container_info,
    mesos_container_info,
    task_info,
)
from dockyard.testing.plugins import make_host
from dockyard.testing.sweeper import ProcessSweeper

BEHAVIOURS = {
    "entry_point": "the plugin is installed under its entry point",
    "refuse_foreign": "supports() refuses a ContainerInfo of another kind",
    "shell": "shell=true commands run under /bin/sh -c",
    "argv": "shell=false commands run without a shell",
    "signal": "a task killed by a signal ends TASK_FAILED",
    "agent_environment": "the agent's MESOS_* variables reach the task",
    "kill": "destroy gives the grace period, then kills",
    "signal_hook": "kill() delivers a signal to a running container",
    "recover": "containers survive an agent restart and are reattached",
    "concurrent": "concurrent launches do not interfere",
}
"""Behaviours a subclass may declare unsupported (``unsupported = {name: reason}``)."""

SANDBOX = "${MESOS_SANDBOX:?is not set}"
"""``$MESOS_SANDBOX`` in task commands; unset, the command fails instead of writing to /."""

WAIT_FOR_GO = f'until [ -e "{SANDBOX}/go" ]; do sleep 0.05; done'
"""Shell that blocks until the test creates ``go`` in the sandbox."""


class ContainerizerConformance(ConformanceSuite):
    """Subclass in a test module to run the standard behaviours against a containerizer::

        from dockyard.testing.conformance import ContainerizerConformance

        class TestHello(ContainerizerConformance):
            @pytest.fixture
            def entry_point_name(self) -> str:
                return "hello"

    Fixtures to override: ``entry_point_name`` (required), ``plugin_factory`` (a
    callable returning a fresh plugin instance; by default the entry point's class),
    ``container_info`` (None for a native backend, a DOCKER ContainerInfo with a local
    image for a docker one), ``foreign_container_info``, ``agent_flags``,
    ``task_labels``. Class attributes: ``unsupported`` (behaviour -> reason, see
    :data:`BEHAVIOURS`), ``timeout`` (seconds per wait), ``concurrent_launches``.
    Methods to override where the backend's command rules differ: :meth:`argv_command`,
    :meth:`self_kill_command`.
    """

    behaviours: ClassVar[Mapping[str, str]] = BEHAVIOURS
    timeout: ClassVar[float] = 60.0
    concurrent_launches: ClassVar[int] = 10

    # -- what a subclass provides ------------------------------------------------

    @pytest.fixture
    def entry_point_name(self) -> str:
        """Override: the plugin's name in ``dockyard.containerizers``."""
        pytest.fail("define an `entry_point_name` fixture in your conformance subclass")

    @pytest.fixture
    def plugin_factory(self, entry_point_name: str) -> Callable[[], object]:
        """A callable returning a fresh plugin instance; by default the entry point's."""

        def load() -> object:
            (entry_point,) = entry_points(group=CONTAINERIZERS, name=entry_point_name)
            return instantiate(entry_point.load())

        return load

    @pytest.fixture
    def container_info(self) -> ContainerInfo | None:
        """The ContainerInfo of every task the suite runs; None for native backends."""
        return None

    @pytest.fixture
    def foreign_container_info(self, container_info: ContainerInfo | None) -> ContainerInfo:
        """A ContainerInfo the plugin must refuse: DOCKER for native backends, else MESOS."""
        if container_info is None or container_info.type is ContainerType.MESOS:
            return docker_container_info("conformance/not-for-you:latest")
        return mesos_container_info()

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        """Extra agent flags for the plugin (``--name=value``)."""
        return []

    @pytest.fixture
    def task_labels(self) -> Mapping[str, str]:
        """Labels put on every task (lets a docker backend's test find its containers)."""
        return {}

    def argv_command(self, argv: Sequence[str]) -> CommandInfo:
        """A shell=false command running ``argv``; Mesos's native rule: value is the
        executable, arguments the whole argv (docker's rule: value, then arguments)."""
        return CommandInfo(shell=False, value=argv[0], arguments=list(argv))

    def self_kill_command(self) -> str:
        """A shell command whose process dies of SIGKILL (PID 1 in a container cannot
        signal itself: a docker backend runs ``sh -c 'kill -KILL $$'; exit $?`` instead)."""
        return "kill -KILL $$"

    # -- the suite's own fixtures ------------------------------------------------

    @pytest_asyncio.fixture
    async def agent(
        self,
        tmp_path: Path,
        plugin_factory: Callable[[], object],
        entry_point_name: str,
        agent_flags: Sequence[str],
    ) -> AsyncIterator[AgentDriver]:
        # The sweeper kills what a failing test or a lost task left.
        async with (
            ProcessSweeper(),
            AgentDriver(
                tmp_path / "work",
                {entry_point_name: plugin_factory()},
                flags=agent_flags,
                timeout=self.timeout,
            ) as driver,
        ):
            yield driver

    @pytest.fixture
    def make_task(
        self, container_info: ContainerInfo | None, task_labels: Mapping[str, str]
    ) -> Callable[..., TaskInfo]:
        def make(command: str | CommandInfo, **fields: Any) -> TaskInfo:
            fields.setdefault("container", copy.deepcopy(container_info))
            fields.setdefault("labels", dict(task_labels) or None)
            return task_info(command, **fields)

        return make

    # -- registration and selection ------------------------------------------------

    def test_entry_point_loads_the_plugin(
        self, entry_point_name: str, plugin_factory: Callable[[], object]
    ) -> None:
        self.require("entry_point")
        found = entry_points(group=CONTAINERIZERS, name=entry_point_name)
        assert found, f"no entry point '{entry_point_name}' in group {CONTAINERIZERS}"
        (entry_point,) = found
        plugin = instantiate(entry_point.load())
        assert type(plugin) is type(plugin_factory())

    def test_registers_with_the_required_hooks(
        self, entry_point_name: str, plugin_factory: Callable[[], object]
    ) -> None:
        make_host({entry_point_name: plugin_factory()})

    @pytest.mark.asyncio
    async def test_accepts_its_own_containers(
        self,
        agent: AgentDriver,
        entry_point_name: str,
        make_task: Callable[..., TaskInfo],
        tmp_path: Path,
    ) -> None:
        config = config_for_task(make_task("true"), sandbox=tmp_path)
        verdict = agent.host.supports(entry_point_name, config)
        assert verdict.accepted, f"refused its own container: {verdict.reason}"

    @pytest.mark.asyncio
    async def test_refuses_a_foreign_container_info(
        self,
        agent: AgentDriver,
        entry_point_name: str,
        make_task: Callable[..., TaskInfo],
        foreign_container_info: ContainerInfo,
        tmp_path: Path,
    ) -> None:
        self.require("refuse_foreign")
        task = make_task("true", container=foreign_container_info)
        verdict = agent.host.supports(entry_point_name, config_for_task(task, sandbox=tmp_path))
        assert not verdict.accepted, f"accepted a {foreign_container_info.type.name} container"
        assert verdict.reason, "a refusal must say why"

    # -- launch and termination ------------------------------------------------------

    @pytest.mark.asyncio
    async def test_launch_reports_statuses_and_output(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        result = await agent.run(make_task("echo conformance-out; echo conformance-err >&2"))
        result.assert_finished()
        assert result.states == [
            TaskState.TASK_STAGING,
            TaskState.TASK_STARTING,
            TaskState.TASK_RUNNING,
            TaskState.TASK_FINISHED,
        ]
        assert "conformance-out" in result.stdout, result.describe()
        assert "conformance-err" in result.stderr, result.describe()

    @pytest.mark.asyncio
    async def test_exit_zero_finishes(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        result = await agent.run(make_task("exit 0"))
        result.assert_finished(message=re.compile(r"\bstatus 0\b")).assert_exit_code(0)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("code", [1, 3, 255])
    async def test_non_zero_exit_fails_with_the_code(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo], code: int
    ) -> None:
        result = await agent.run(make_task(f"exit {code}"))
        result.assert_failed(message=re.compile(rf"\bstatus {code}\b")).assert_exit_code(code)

    @pytest.mark.asyncio
    async def test_death_by_signal_fails(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("signal")
        result = await agent.run(make_task(self.self_kill_command()))
        result.assert_failed(message=re.compile(r"signal|Killed|status 137"))
        assert result.exit_code != 0, result.describe()

    # -- what the task sees ----------------------------------------------------------

    @pytest.mark.asyncio
    async def test_sandbox_is_shared_through_mesos_sandbox(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        result = await agent.run(make_task(f'echo sandbox-ok > "{SANDBOX}/written"'))
        result.assert_finished()
        written = result.sandbox / "written"
        assert written.is_file(), (
            f"$MESOS_SANDBOX/written is not in the sandbox\n{result.describe()}"
        )
        assert written.read_text() == "sandbox-ok\n"

    @pytest.mark.asyncio
    async def test_command_environment_reaches_the_task(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        value = "two words $NOT_EXPANDED 'quoted'"
        task = make_task(
            f'printf "%s\\n" "$CONFORMANCE_VAR" > "{SANDBOX}/env"',
            environment={"CONFORMANCE_VAR": value},
        )
        result = await agent.run(task)
        result.assert_finished()
        assert (result.sandbox / "env").read_text() == f"{value}\n", result.describe()

    @pytest.mark.asyncio
    async def test_agent_environment_reaches_the_task(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("agent_environment")
        task = make_task(f'printf "%s\\n" "$MESOS_TASK_ID" > "{SANDBOX}/env"')
        result = await agent.run(task)
        result.assert_finished()
        assert (result.sandbox / "env").read_text() == f"{task.task_id.value}\n"

    @pytest.mark.asyncio
    async def test_shell_command_runs_under_sh(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("shell")
        result = await agent.run(make_task(f'echo "$((6 * 7))" > "{SANDBOX}/shell"'))
        result.assert_finished()
        assert (result.sandbox / "shell").read_text() == "42\n"

    @pytest.mark.asyncio
    async def test_argv_command_is_not_interpreted(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("argv")
        script = f'printf "%s|" "$@" > "{SANDBOX}/argv"'
        command = self.argv_command(["/bin/sh", "-c", script, "sh", "a  b", "$HOME", "*"])
        result = await agent.run(make_task(command))
        result.assert_finished()
        assert (result.sandbox / "argv").read_text() == "a  b|$HOME|*|", result.describe()

    # -- kill ------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_kill_gives_the_grace_period(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("kill")
        record = await agent.launch(
            make_task(
                f"trap 'sleep 1; echo graceful > \"{SANDBOX}/term\"; exit 0' TERM; "
                f'touch "{SANDBOX}/ready"; while :; do sleep 0.1; done'
            )
        )
        await agent.wait_for_state(record, TaskState.TASK_RUNNING)
        await agent.wait_for_file(record, "ready")
        await agent.kill(record, grace_period=timedelta(seconds=self.timeout))
        result = await agent.result(record)
        result.assert_killed()
        term = result.sandbox / "term"
        assert term.is_file(), f"the task's SIGTERM handler did not complete\n{result.describe()}"

    @pytest.mark.asyncio
    async def test_kill_forces_a_task_ignoring_sigterm(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("kill")
        record = await agent.launch(
            make_task(f"trap '' TERM; touch \"{SANDBOX}/ready\"; while :; do sleep 0.1; done")
        )
        await agent.wait_for_state(record, TaskState.TASK_RUNNING)
        await agent.wait_for_file(record, "ready")
        await agent.kill(record, grace_period=timedelta(milliseconds=200))
        (await agent.result(record)).assert_killed()

    @pytest.mark.asyncio
    async def test_kill_hook_signals_a_running_container(
        self, agent: AgentDriver, entry_point_name: str, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("signal_hook")
        if not agent.host.implements(entry_point_name, "kill"):
            pytest.skip("the plugin has no kill hook (KILL_CONTAINER is refused)")
        record = await agent.launch(
            make_task(
                f"trap 'echo usr1 > \"{SANDBOX}/signalled\"; exit 0' USR1; "
                f'touch "{SANDBOX}/ready"; while :; do sleep 0.1; done'
            )
        )
        await agent.wait_for_state(record, TaskState.TASK_RUNNING)
        await agent.wait_for_file(record, "ready")
        delivered = await agent.host.kill(entry_point_name, record.container_id, signal.SIGUSR1)
        assert delivered, "kill() returned False for a running container"
        result = await agent.result(record)
        result.assert_finished()
        assert (result.sandbox / "signalled").read_text() == "usr1\n"

    # -- unknown containers and wait -------------------------------------------------

    @pytest.mark.asyncio
    async def test_unknown_containers_are_not_an_error(
        self, agent: AgentDriver, entry_point_name: str
    ) -> None:
        unknown = ContainerID(value=f"conformance-unknown-{uuid.uuid4().hex[:8]}")
        host = agent.host
        assert await host.wait(entry_point_name, unknown) is None
        assert await host.destroy(entry_point_name, unknown, timedelta(0)) is None
        assert await host.kill(entry_point_name, unknown, 15) is False
        assert await host.usage(entry_point_name, unknown) is None

    @pytest.mark.asyncio
    async def test_wait_may_be_called_concurrently_and_after_the_end(
        self,
        agent: AgentDriver,
        entry_point_name: str,
        make_task: Callable[..., TaskInfo],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Until the core calls ``forget`` (held back here), a late ``wait`` still answers."""
        monkeypatch.setattr(agent.agent.dispatcher, "forget", lambda *args, **kwargs: None)
        record = await agent.launch(make_task(f"{WAIT_FOR_GO}; exit 3"))
        await agent.wait_for_state(record, TaskState.TASK_RUNNING)
        waits = [
            asyncio.ensure_future(agent.host.wait(entry_point_name, record.container_id))
            for _ in range(3)
        ]
        (record.sandbox / "go").touch()
        terminations = await asyncio.gather(*waits)
        (await agent.result(record)).assert_failed().assert_exit_code(3)
        terminations.append(await agent.host.wait(entry_point_name, record.container_id))
        for termination in terminations:
            assert termination is not None, "wait returned None for a container it launched"
            assert exit_code(termination.status) == 3, termination

    # -- recovery --------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_recover_after_an_agent_restart(
        self,
        agent: AgentDriver,
        entry_point_name: str,
        plugin_factory: Callable[[], object],
        make_task: Callable[..., TaskInfo],
    ) -> None:
        self.require("recover")
        still_running = await agent.launch(make_task(f"{WAIT_FOR_GO}; exit 5"))
        ends_while_down = await agent.launch(
            make_task(f'{WAIT_FOR_GO}; touch "{SANDBOX}/bye"; exit 4')
        )
        for record in (still_running, ends_while_down):
            await agent.wait_for_state(record, TaskState.TASK_RUNNING)
        await agent.stop()
        (ends_while_down.sandbox / "go").touch()
        await agent.wait_for_file(ends_while_down, "bye")
        await asyncio.sleep(0.5)  # let it exit while no agent watches
        await agent.restart({entry_point_name: plugin_factory()})
        (await agent.result(ends_while_down)).assert_failed().assert_exit_code(4)
        assert agent.task(still_running).state is TaskState.TASK_RUNNING
        (still_running.sandbox / "go").touch()
        (await agent.result(still_running)).assert_failed().assert_exit_code(5)

    # -- concurrency -----------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_concurrent_launches_do_not_interfere(
        self, agent: AgentDriver, make_task: Callable[..., TaskInfo]
    ) -> None:
        self.require("concurrent")
        tasks = [
            make_task(
                f'printf %s "$CONFORMANCE_ID" > "{SANDBOX}/id"',
                environment={"CONFORMANCE_ID": f"launch-{index}"},
            )
            for index in range(self.concurrent_launches)
        ]
        results = await asyncio.gather(*(agent.run(task) for task in tasks))
        for index, result in enumerate(results):
            result.assert_finished()
            assert (result.sandbox / "id").read_text() == f"launch-{index}", result.describe()
