"""Damaged ledger records are quarantined and their tasks reported, never dropped.

The agent is stopped, its database damaged in one of four ways, and restarted: it
must start, serve the tasks it can still trust, report each task it cannot as
TASK_FAILED with a message naming the damage and where it went, and a second restart
must not report anything again.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .calls import launch
from .conftest import RunningAgent, polled, processes_of, stop_agent
from .recordio import Subscriber

pytest.importorskip("dockyard_mesos")

MESOS = "--containerizers=mesos"


def alter_row(sql: str) -> Callable[[Path, str], None]:
    """Run ``sql`` (with the victim's key as its parameter) and leave its crc as it was."""

    def damage(database: Path, key: str) -> None:
        with sqlite3.connect(database) as db:
            assert db.execute(sql, (key,)).rowcount == 1
        db.close()

    return damage


def overwrite_with_garbage(database: Path, key: str) -> None:
    database.write_bytes(os.urandom(database.stat().st_size))


def truncate_to_half(database: Path, key: str) -> None:
    os.truncate(database, database.stat().st_size // 2)


DAMAGES = {
    "status-row": alter_row(
        "UPDATE statuses SET status = replace(status, '\"TASK_RUNNING\"', '\"TASK_FINISHED\"')"
        " WHERE key = ? AND status LIKE '%\"TASK_RUNNING\"%'"
    ),
    "identity-row": alter_row(
        "UPDATE tasks SET identity = replace(identity, '\"victim\"', '\"impostor\"') WHERE key = ?"
    ),
    "garbage": overwrite_with_garbage,
    "truncated": truncate_to_half,
}
ROW_DAMAGE = ("status-row", "identity-row")
COMMANDS = {"victim": "sleep 600", "running": "sleep 600", "done": "true"}


def identities(task: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["state"], s["uuid"]) for s in task["statuses"]]


def damage_lines(agent: RunningAgent) -> list[str]:
    assert agent.log is not None
    return [
        line
        for line in agent.log.read_text().splitlines()
        if "damaged" in line or "quarantin" in line or "unreadable" in line
    ]


def quarantined(work_dir: Path) -> list[Path]:
    return sorted((work_dir / "meta" / "quarantine").rglob("*"))


@pytest.mark.parametrize("damage", list(DAMAGES))
async def test_a_damaged_record_is_quarantined_and_its_task_reported_once(
    make_agent, damage: str
) -> None:
    agent: RunningAgent = await make_agent(MESOS)
    async with Subscriber.open(agent.session, agent.url) as subscriber:
        for task_id, command in COMMANDS.items():
            await agent.call(launch(task_id, command))
        await subscriber.until(
            lambda: (
                "TASK_RUNNING" in subscriber.states("victim")
                and "TASK_RUNNING" in subscriber.states("running")
                and "TASK_FINISHED" in subscriber.states("done")
            )
        )
    before = await agent.tasks()
    victim_key = f"{before['victim']['container_id']['value']}.victim"
    victim_sandbox = Path(before["victim"]["sandbox_directory"])
    stop_agent(agent.process)  # a clean stop: the WAL is checkpointed into the database
    database = agent.work_dir / "meta" / "ledger.sqlite"
    assert not database.with_name("ledger.sqlite-wal").exists()
    DAMAGES[damage](database, victim_key)

    restarted: RunningAgent = await make_agent(MESOS, work_dir=agent.work_dir)
    tasks = await restarted.tasks()
    damaged = ["victim"] if damage in ROW_DAMAGE else ["victim", "running", "done"]
    for task_id in damaged:
        (failed,) = tasks[task_id]["statuses"]
        assert failed["state"] == "TASK_FAILED", task_id
        assert failed["reason"] == "REASON_EXECUTOR_TERMINATED"
        assert "record of this task was damaged" in failed["message"]
    message = tasks["victim"]["statuses"][0]["message"]
    if damage in ROW_DAMAGE:
        (quarantine,) = (agent.work_dir / "meta" / "quarantine").glob("task-*.json")
        assert json.loads(quarantine.read_text())["task_id"] == "victim"
        assert "fails its checksum" in message
        assert identities(tasks["running"]) == identities(before["running"])
        assert identities(tasks["done"]) == identities(before["done"])
    else:
        (quarantine,) = (agent.work_dir / "meta" / "quarantine").glob("*-ledger.sqlite")
        assert (quarantine / "ledger.sqlite").is_file()
        assert "the ledger could not be read" in message
    assert quarantine.exists()
    assert str(quarantine) in message
    assert damage_lines(restarted), "the damage is logged once"
    await polled(lambda: processes_of(victim_sandbox) == [])  # not recovered: killed

    async with Subscriber.open(restarted.session, restarted.url) as subscriber:
        assert (await restarted.call(launch("after", "true"))).status == 202
        await subscriber.until(lambda: "TASK_FINISHED" in subscriber.states("after"))

    served = await restarted.tasks()
    stop_agent(restarted.process, signal.SIGKILL)
    files = quarantined(agent.work_dir)
    again: RunningAgent = await make_agent(MESOS, work_dir=agent.work_dir)
    assert damage_lines(again) == [], "nothing is reported twice"
    assert quarantined(agent.work_dir) == files
    tasks_again = await again.tasks()
    for task_id in [*damaged, "after"]:
        assert identities(tasks_again[task_id]) == identities(served[task_id]), task_id
