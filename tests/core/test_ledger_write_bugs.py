"""A write of the ledger that fails with anything but a storage error (a bug) is held and
retried like a full disk: nothing waits forever on a flusher that died of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dockyard.ledger import StorageError
from dockyard.ledger.store import LedgerStore
from dockyard.messages import TaskState

from .scripted import ScriptedContainerizer, host_with
from .test_agent import a_task, make_agent, settle


async def test_a_bug_in_a_write_refuses_that_launch_and_the_next_ones_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = LedgerStore.commit
    failures = [RuntimeError("a bug in the commit")]

    def buggy_commit(store: LedgerStore) -> None:
        if failures:
            raise failures.pop()
        commit(store)

    monkeypatch.setattr(LedgerStore, "commit", buggy_commit)
    agent = make_agent(tmp_path, host_with(a=ScriptedContainerizer()), "--containerizers=a")
    await agent.start()
    try:
        async with asyncio.timeout(30):
            with pytest.raises(StorageError, match="RuntimeError: a bug in the commit"):
                await agent.launch_task(a_task("t1"))
            record = await agent.launch_task(a_task("t2"))
            await settle(agent, record, TaskState.TASK_RUNNING)
        assert agent.ledger.failure is None
        assert [r.task.task_id.value for r in agent.ledger.tasks()] == ["t2"]
    finally:
        await agent.stop()
