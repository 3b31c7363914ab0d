"""Killing tasks: the grace period, the whole process tree, KILL_CONTAINER."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

from dockyard.messages import Resource, Scalar, TaskState, ValueType

from tests.mesos.harness import gone, launch, make_config, read_pid, shell, until

TRAPPING_TASK = """
trap 'echo TERM > got_term; {on_term}; echo done > cleaned_up; exit 0' TERM
echo > ready
while true; do sleep 0.01; done
"""


async def test_a_task_trapping_sigterm_gets_its_grace_period(mesos, work_dir):
    config, _ = await launch(
        mesos, work_dir, "graceful", shell(TRAPPING_TASK.format(on_term="sleep 0.3"))
    )
    await until((config.sandbox / "ready").exists)
    termination = await mesos.destroy(config.container_id, timedelta(seconds=30))
    assert termination is not None
    assert (config.sandbox / "cleaned_up").read_text() == "done\n"
    assert termination.state is TaskState.TASK_KILLED  # even though it exited 0
    assert termination.message == "Command exited with status 0"


async def test_a_task_outliving_its_grace_period_is_sigkilled(mesos, work_dir):
    config, _ = await launch(
        mesos, work_dir, "stubborn", shell(TRAPPING_TASK.format(on_term="sleep 60"))
    )
    await until((config.sandbox / "ready").exists)
    termination = await mesos.destroy(config.container_id, timedelta(milliseconds=200))
    assert termination is not None
    assert termination.status is not None
    assert (config.sandbox / "got_term").exists()
    assert not (config.sandbox / "cleaned_up").exists()
    assert os.WTERMSIG(termination.status) == signal.SIGKILL
    assert termination.state is TaskState.TASK_KILLED
    assert termination.message == "Command terminated with signal Killed"


async def test_the_default_grace_period_comes_from_the_config(mesos, work_dir):
    script = TRAPPING_TASK.format(on_term="sleep 60")
    config, _ = await launch(
        mesos, work_dir, "policy", shell(script), kill_grace_period=timedelta(milliseconds=100)
    )
    await until((config.sandbox / "ready").exists)
    termination = await mesos.destroy(config.container_id, None)
    assert termination is not None
    assert termination.status is not None
    assert os.WTERMSIG(termination.status) == signal.SIGKILL


async def test_destroy_kills_the_whole_process_group(mesos, work_dir):
    script = "trap '' TERM; sleep 600 & echo $! > child; echo > ready; wait"
    config, _ = await launch(mesos, work_dir, "tree", shell(script))
    await until((config.sandbox / "ready").exists)
    child = read_pid(config.sandbox / "child")
    assert not gone(child)
    await mesos.destroy(config.container_id, timedelta(milliseconds=50))
    await until(lambda: gone(child))


async def test_processes_left_behind_die_with_the_task(mesos, work_dir):
    config, _ = await launch(mesos, work_dir, "leftover", shell("sleep 600 & echo $! > child"))
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.status == 0
    child = read_pid(config.sandbox / "child")
    await until(lambda: gone(child))


async def test_destroy_after_the_end_returns_the_real_termination(mesos, work_dir):
    config, _ = await launch(mesos, work_dir, "ended", shell("exit 2"))
    ended = await mesos.wait(config.container_id)
    assert await mesos.destroy(config.container_id, None) == ended


async def test_destroy_before_launch_ends_the_container(mesos, work_dir):
    config = make_config(work_dir, "unlaunched", shell("true"))
    await mesos.prepare(config)
    termination = await mesos.destroy(config.container_id, None)
    assert termination is not None
    assert termination.status is None
    assert await mesos.wait(config.container_id) == termination


async def test_kill_container_sends_the_signal_without_marking_it_killed(mesos, work_dir):
    config, _ = await launch(mesos, work_dir, "signalled", shell("echo > ready; exec sleep 600"))
    await until((config.sandbox / "ready").exists)
    assert await mesos.kill(config.container_id, signal.SIGUSR2)
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.state is None
    assert termination.message == "Command terminated with signal User defined signal 2"
    assert not await mesos.kill(config.container_id, signal.SIGUSR2)


async def test_usage_of_a_running_task(mesos, work_dir):
    resources = [Resource(name="cpus", type=ValueType.SCALAR, scalar=Scalar(value=0.5))]
    config, _ = await launch(
        mesos, work_dir, "busy", shell("echo > ready; exec sleep 600"), resources=resources
    )
    await until((config.sandbox / "ready").exists)
    statistics = await mesos.usage(config.container_id)
    assert statistics is not None
    assert statistics.mem_rss_bytes is not None
    assert statistics.mem_rss_bytes > 0
    assert statistics.cpus_soft_limit == 0.5
    assert statistics.cpus_limit is None, "no cpus limit and no CFS quota: Mesos states none"
    await mesos.destroy(config.container_id, timedelta(0))
    assert await mesos.usage(config.container_id) is None


async def test_destroy_after_a_cancelled_launch_still_kills_the_task(mesos, work_dir):
    script = TRAPPING_TASK.format(on_term="true")
    config = make_config(work_dir, "cancelled", shell(script))
    await mesos.prepare(config)
    launching = asyncio.create_task(mesos.launch(config))
    await until((config.sandbox / "ready").exists)
    launching.cancel()
    termination = await mesos.destroy(config.container_id, timedelta(seconds=30))
    assert termination is not None
    assert termination.state is TaskState.TASK_KILLED
    assert (config.sandbox / "cleaned_up").exists()
