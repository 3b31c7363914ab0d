"""A test kit for dockyard plugin authors: an opt-in pytest plugin and its helpers.

Enable it with ``pytest -p dockyard.testing`` or, in your top-level ``conftest.py``,
``pytest_plugins = ["dockyard.testing"]`` (it is never loaded on its own). Then
override the ``dockyard_containerizers`` fixture and use ``dockyard_agent``::

    @pytest.fixture
    def dockyard_containerizers():
        return {"hello": HelloContainerizer()}

    async def test_hello(dockyard_agent, make_task):
        result = await dockyard_agent.run(make_task("hello world"))
        result.assert_finished()

Fixtures (see :mod:`dockyard.testing.fixtures`): ``dockyard_agent`` (a started
:class:`AgentDriver`), ``dockyard_host``, ``dockyard_recorder``, ``dockyard_work_dir``,
``dockyard_sandbox``, ``make_task``, ``make_container_config``. The conformance suites
are in :mod:`dockyard.testing.conformance`. Everything here needs ``pytest`` and
``pytest-asyncio``.
"""

from dockyard.testing.agent_process import AgentProcess
from dockyard.testing.driver import AgentDriver
from dockyard.testing.factories import (
    as_json,
    command_info,
    config_for_task,
    container_config,
    docker_container_info,
    executor_info,
    launch_container,
    mesos_container_info,
    task_info,
)
from dockyard.testing.plugins import PluginRegistrationError, agent_context, make_host
from dockyard.testing.recorder import HookCall, HookRecorder
from dockyard.testing.results import TaskResult
from dockyard.testing.sweeper import ProcessSweeper

pytest_plugins = ["dockyard.testing.fixtures"]

__all__ = [
    "AgentDriver",
    "AgentProcess",
    "HookCall",
    "HookRecorder",
    "PluginRegistrationError",
    "ProcessSweeper",
    "TaskResult",
    "agent_context",
    "as_json",
    "command_info",
    "config_for_task",
    "container_config",
    "docker_container_info",
    "executor_info",
    "launch_container",
    "make_host",
    "mesos_container_info",
    "task_info",
]
