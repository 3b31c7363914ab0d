"""``forget`` is called only once the container's terminal update is durable.

A containerizer drops what it kept about a container (its exit) at ``forget``; if that
came before the ledger's write of the terminal status, a crash in between would lose the
task's end for good. The test holds the ledger's commit of the terminal update and checks
that ``forget`` waits for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from dockyard import hookimpl
from dockyard.dispatcher import container_key
from dockyard.ledger.store import Batch, LedgerStore
from dockyard.messages import ContainerID, TaskState
from dockyard.testing import AgentDriver, task_info

from .scripted import ScriptedContainerizer

pytestmark = pytest.mark.asyncio

LOOP_TURNS = 50
"""Event-loop turns given to a wrong implementation to call ``forget`` early: everything
between the terminal update's append and its commit happens without waiting on time."""


class ForgettingContainerizer(ScriptedContainerizer):
    def __init__(self) -> None:
        super().__init__()
        self.forgotten: list[str] = []
        self.forgot = asyncio.Event()

    @hookimpl
    async def forget(self, container_id: ContainerID) -> None:
        self.forgotten.append(container_key(container_id))
        self.forgot.set()


class HeldCommits:
    """Holds every ledger commit that carries a terminal update until released."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()
        self.staged_terminal = False

    def wrap_stage(self, stage: object) -> object:
        def noted_stage(store: LedgerStore, batch: Batch) -> None:
            self.staged_terminal = any('"TASK_FINISHED"' in row[3] for row in batch.statuses)
            stage(store, batch)  # type: ignore[operator]

        return noted_stage

    def wrap_commit(self, commit: object) -> object:
        def held_commit(store: LedgerStore) -> None:
            if self.staged_terminal:
                self.holding.set()
                self.release.wait(timeout=60)
            commit(store)  # type: ignore[operator]

        return held_commit


@pytest.fixture
def plugin() -> ForgettingContainerizer:
    return ForgettingContainerizer()


@pytest_asyncio.fixture
async def driver(tmp_path: Path, plugin: ForgettingContainerizer) -> AsyncIterator[AgentDriver]:
    async with AgentDriver(tmp_path / "work", {"a": plugin}) as driver:
        yield driver


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldCommits]:
    held = HeldCommits()
    monkeypatch.setattr(LedgerStore, "stage", held.wrap_stage(LedgerStore.stage))
    monkeypatch.setattr(LedgerStore, "commit", held.wrap_commit(LedgerStore.commit))
    yield held
    held.release.set()  # never leave the ledger's thread waiting


async def test_forget_waits_for_the_terminal_update_to_be_durable(
    driver: AgentDriver, plugin: ForgettingContainerizer, held: HeldCommits
) -> None:
    record = await driver.launch(task_info("true"))
    await driver.wait_for_state(record, "TASK_RUNNING")
    plugin.finish(container_key(record.container_id), 0)

    await asyncio.to_thread(held.holding.wait, 30)
    assert held.holding.is_set(), "the terminal update was never committed"
    for _ in range(LOOP_TURNS):
        await asyncio.sleep(0)
    assert plugin.forgotten == [], "forget came before the terminal update was durable"
    assert driver.task(record).state is TaskState.TASK_RUNNING  # not published either

    held.release.set()
    async with asyncio.timeout(driver.timeout):
        await plugin.forgot.wait()
    assert plugin.forgotten == [container_key(record.container_id)]
    assert driver.task(record).state is TaskState.TASK_FINISHED
