"""Native tasks' output: rotated files (the supervisor splices each task's pipes into
them) and unix sockets (the task writes to the collector itself)."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
from dockyard.containers import (
    ContainerOutput,
    FileOutput,
    LaunchError,
    Rotation,
    UnixSocketOutput,
)

from tests.collector import LineCollector
from tests.mesos.harness import STATE, launch, shell, until
from tests.rotated import lines, lines_command, retained

MB = 1 << 20


def rotating(sandbox: Path, max_size: int, max_files: int) -> ContainerOutput:
    rotation = Rotation(max_size=max_size, max_files=max_files)
    return ContainerOutput(
        stdout=FileOutput(path=sandbox / "stdout", rotation=rotation),
        stderr=FileOutput(path=sandbox / "stderr", rotation=rotation),
    )


def sandbox_of(work_dir: Path, name: str) -> Path:
    return work_dir / "containers" / name


async def test_a_chatty_task_loses_and_repeats_no_line_across_rotations(mesos, work_dir):
    sandbox = sandbox_of(work_dir, "chatty")
    config, _ = await launch(
        mesos,
        work_dir,
        "chatty",
        shell(f"{lines_command(1, 550_000)}; {lines_command(1, 1000)} >&2"),
        output=rotating(sandbox, MB, 100),
    )
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.status == 0

    stdout, sizes = retained(sandbox, "stdout")  # read at once: the exit waits for the output
    assert len(stdout) >= 50_000_000
    assert stdout == lines(1, 550_000)
    assert all(size == MB for size in sizes[:-1]), "cut at exactly the size"
    assert sizes[-1] <= MB
    stderr, _ = retained(sandbox, "stderr")
    assert stderr == lines(1, 1000)


async def test_only_max_files_rotated_files_are_kept(mesos, work_dir):
    sandbox = sandbox_of(work_dir, "bounded")
    config, _ = await launch(
        mesos,
        work_dir,
        "bounded",
        shell(lines_command(1, 5000)),
        output=rotating(sandbox, 65536, 3),
    )
    assert (await mesos.wait(config.container_id)) is not None
    assert sorted(path.name for path in sandbox.iterdir()) == [
        "stderr",
        "stdout",
        "stdout.1",
        "stdout.2",
        "stdout.3",
    ]
    stdout, sizes = retained(sandbox, "stdout")
    assert sizes[:3] == [65536] * 3
    assert lines(1, 5000).endswith(stdout), "the newest output, with no gap"


async def test_commands_run_inside_the_task_write_to_its_rotated_stderr(mesos, work_dir):
    sandbox = sandbox_of(work_dir, "checked")
    config, _ = await launch(
        mesos,
        work_dir,
        "checked",
        shell("echo > ready; exec sleep 600"),
        output=rotating(sandbox, 4096, 1),
    )
    await until((sandbox / "ready").exists)
    check = shell("echo from-check; echo err-check >&2")
    assert await mesos.exec_in_container(config.container_id, check, timedelta(seconds=30)) == 0
    await until(lambda: (sandbox / "stderr").read_bytes() == b"from-check\nerr-check\n")
    await mesos.destroy(config.container_id, timedelta(0))


async def test_an_unopenable_output_fails_the_launch_naming_it(mesos, work_dir):
    sandbox = sandbox_of(work_dir, "nowhere")
    missing = sandbox / "no" / "such" / "stdout"
    output = ContainerOutput(
        stdout=FileOutput(path=missing, rotation=Rotation(max_size=4096, max_files=1)),
        stderr=FileOutput(path=sandbox / "stderr"),
    )
    with pytest.raises(LaunchError, match=f"stdout \\(file '{missing}'\\): No such file"):
        await launch(mesos, work_dir, "nowhere", shell("true"), output=output)


@contextlib.contextmanager
def tiny_filesystem(directory: Path, size: str) -> Iterator[None]:
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True
    )
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


@pytest.mark.usefixtures("needs_root")
async def test_a_full_disk_drops_output_but_never_blocks_or_kills_the_task(mesos, work_dir):
    sandbox = sandbox_of(work_dir, "full")
    sandbox.mkdir(parents=True)
    finished = work_dir / "finished"
    with tiny_filesystem(sandbox, "1m"):
        config, _ = await launch(
            mesos,
            work_dir,
            "full",
            shell(f"{lines_command(1, 30_000)} && touch {finished}"),
            output=rotating(sandbox, 256 * 1024, 10),
        )
        termination = await mesos.wait(config.container_id)
        assert termination is not None
        assert termination.status == 0, "no SIGPIPE, no EPIPE: the task ran to its end"
        assert finished.exists()
        stdout, sizes = retained(sandbox, "stdout")
        assert all(size <= 256 * 1024 for size in sizes)
        assert lines(1, 30_000).startswith(stdout), "what fitted is the output's start"


async def test_a_unix_socket_output_gets_the_preamble_then_the_tasks_writes(mesos, work_dir):
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        async with LineCollector(Path(directory) / "collector.sock") as collector:
            sandbox = sandbox_of(work_dir, "shipped")
            output = ContainerOutput(
                stdout=UnixSocketOutput(path=collector.path, preamble=b"tag=shipped\n"),
                stderr=FileOutput(path=sandbox / "stderr"),
            )
            script = f"{lines_command(1, 2000)}; echo to-stderr >&2"
            config, _ = await launch(mesos, work_dir, "shipped", shell(script), output=output)
            assert (await mesos.wait(config.container_id)) is not None
            assert await collector.received() == b"tag=shipped\n" + lines(1, 2000)
            assert (sandbox / "stderr").read_bytes() == b"to-stderr\n"


async def test_an_unreachable_socket_fails_the_launch_naming_it(mesos, work_dir):
    missing = work_dir / "no-collector.sock"
    output = ContainerOutput(
        stdout=UnixSocketOutput(path=missing),
        stderr=FileOutput(path=sandbox_of(work_dir, "unshipped") / "stderr"),
    )
    with pytest.raises(LaunchError, match=f"stdout \\(socket '{missing}'\\): No such file"):
        await launch(mesos, work_dir, "unshipped", shell("true"), output=output)


@pytest.fixture
def small_file_limit() -> Iterator[int]:
    """A soft limit on open files below the hard one, for the supervisor this test starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip("the hard limit on open files leaves no room below it")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        yield 256
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_the_supervisor_may_hold_many_pipes_but_tasks_keep_the_usual_file_limit(
    small_file_limit, start_containerizer, work_dir
):
    mesos = await start_containerizer()
    sandbox = sandbox_of(work_dir, "limited")
    config, _ = await launch(
        mesos, work_dir, "limited", shell("ulimit -n"), output=rotating(sandbox, 4096, 1)
    )
    assert (await mesos.wait(config.container_id)) is not None
    assert (sandbox / "stdout").read_text() == f"{small_file_limit}\n"
    supervisor = psutil.Process(int((work_dir / STATE / "supervisor.pid").read_text()))
    assert supervisor.rlimit(psutil.RLIMIT_NOFILE) == 2 * (
        resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    )
