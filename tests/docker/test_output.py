"""Docker containers' output: rotated files, exact across rotations and an agent SIGKILL,
and unix sockets."""

from __future__ import annotations

import asyncio
import pwd
import tempfile
import uuid
from pathlib import Path

import pytest
from dockyard.containers import (
    ContainerOutput,
    FileOutput,
    RecoveredContainer,
    Rotation,
    UnixSocketOutput,
)
from dockyard.messages import TaskState
from dockyard_docker import plugin as plugin_module

from tests.collector import LineCollector
from tests.docker.configs import rotating, task_config
from tests.docker.crashing_agent import run_until_killed
from tests.docker.waiting import until
from tests.rotated import lines, lines_command, retained

REPO_ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20


def whole_lines(sandbox: Path, stream: str) -> bool:
    """Each file holds whole lines: rotation waits for a line that does not fit."""
    return all(
        path.read_bytes().endswith(b"\n")
        for path in sandbox.iterdir()
        if path.name.startswith(stream) and path.stat().st_size
    )


async def test_only_max_files_whole_line_files_are_kept(agent, busybox_image, tmp_path):
    sandbox = tmp_path / "bounded"
    config = task_config(
        sandbox, busybox_image, f"{lines_command(1, 5000)}; {lines_command(1, 3000)} >&2"
    )
    config.output = rotating(sandbox, Rotation(max_size=65536, max_files=2))
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED

    names = sorted(path.name for path in sandbox.iterdir())
    assert names == ["stderr", "stderr.1", "stderr.2", "stdout", "stdout.1", "stdout.2"]
    for stream, count in (("stdout", 5000), ("stderr", 3000)):
        kept, sizes = retained(sandbox, stream)
        assert all(size <= 65536 for size in sizes)
        assert lines(1, count).endswith(kept), f"{stream}: the newest output, with no gap"
        assert whole_lines(sandbox, stream)


@pytest.mark.slow
async def test_a_chatty_container_loses_and_repeats_no_line_across_rotations_and_a_sigkill(
    agents, busybox_image, tmp_path, docker_api
):
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    agents.agent_ids.add(agent_id)
    sandbox = tmp_path / "chatty"
    sandbox.mkdir()
    container_id = str(uuid.uuid4())
    half, total = 250_000, 520_000
    command = (
        f"{lines_command(1, half)}; seq 1 1000 >&2; "
        "while [ ! -f $MESOS_SANDBOX/go ]; do sleep 0.05; done; "
        f"{lines_command(half + 1, total)}"
    )
    rotation = {"max_size": MB, "max_files": 100}
    spec = {
        "agent_id": agent_id,
        "work_dir": str(agents.work_dir),
        "image": busybox_image,
        "containers": [
            {
                "container_id": container_id,
                "sandbox": str(sandbox),
                "command": command,
                "rotation": rotation,
            }
        ],
    }
    handles = await run_until_killed(  # mid-stream
        spec, lambda: until(lambda: (sandbox / "stdout.3").exists(), attempts=3000)
    )
    assert not (sandbox / "stdout.25").exists(), "killed while the first half was copied"
    (sandbox / "go").touch()  # the second half is written while no agent runs
    await asyncio.to_thread(docker_api.wait, handles[container_id]["docker_id"])

    agent = await agents.start(agent_id=agent_id)
    config = task_config(sandbox, busybox_image, command, container_id=container_id)
    config.output = rotating(sandbox, Rotation(**rotation))
    recovered = await agent.plugin.recover(
        [RecoveredContainer(config=config, handle=handles[container_id])]
    )
    assert [c.value for c in recovered] == [container_id]
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED

    stdout, sizes = retained(sandbox, "stdout")
    assert len(stdout) >= 50_000_000
    assert stdout == lines(1, total), "every line once, in order"
    assert all(size <= MB for size in sizes)
    assert whole_lines(sandbox, "stdout")
    assert retained(sandbox, "stderr")[0] == b"".join(b"%d\n" % n for n in range(1, 1001))


async def test_a_unix_socket_output_gets_everything_even_from_a_collector_that_starts_late(
    agent, busybox_image, tmp_path, monkeypatch
):
    monkeypatch.setattr(plugin_module, "LOG_DRAIN_TIMEOUT", 0.5)  # report the exit meanwhile
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        socket_path = Path(directory) / "collector.sock"
        config = task_config(tmp_path, busybox_image, f"{lines_command(1, 2000)}; echo e >&2")
        config.output = ContainerOutput(
            stdout=UnixSocketOutput(path=socket_path, preamble=b"tag=late\n"),
            stderr=FileOutput(path=tmp_path / "stderr"),
        )
        await agent.plugin.prepare(config)
        await agent.plugin.launch(config)
        termination = await agent.plugin.wait(config.container_id)
        assert termination is not None
        assert termination.state == TaskState.TASK_FINISHED
        async with LineCollector(socket_path) as collector:
            assert await collector.received() == b"tag=late\n" + lines(1, 2000)
        assert (tmp_path / "stderr").read_bytes() == b"e\n"


async def test_rotated_files_belong_to_the_tasks_user(agent, busybox_image, tmp_path):
    nobody = pwd.getpwnam("nobody")
    config = task_config(tmp_path, busybox_image, lines_command(1, 2000))
    config.user = "nobody"
    config.output = rotating(tmp_path, Rotation(max_size=65536, max_files=5))
    await agent.plugin.prepare(config)
    await agent.plugin.launch(config)
    termination = await agent.plugin.wait(config.container_id)
    assert termination is not None
    assert termination.state == TaskState.TASK_FINISHED
    rotated = sorted(tmp_path.glob("stdout*"))
    assert len(rotated) == 4
    assert {path.stat().st_uid for path in rotated} == {nobody.pw_uid}
