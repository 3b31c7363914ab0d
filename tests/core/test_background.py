"""The owner of the agent's background work: closing it ends every task and timer."""

from __future__ import annotations

import asyncio

from dockyard.background import Background


async def test_close_ends_a_task_that_swallowed_its_cancellation() -> None:
    """As a loop around Python 3.11's asyncio.wait_for can, when the cancellation
    arrives as the awaited call completes."""
    background = Background()
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.Event().wait()

    started = background.spawn(stubborn())
    await asyncio.sleep(0)  # let it reach its first wait
    async with asyncio.timeout(30):
        await background.close()
    assert swallowed.is_set()
    assert started.cancelled()


async def test_close_cancels_timers_before_they_fire() -> None:
    background = Background()
    fired = asyncio.Event()

    async def fire() -> None:
        fired.set()

    background.later(0, fire)
    await background.close()
    await asyncio.sleep(0.01)  # the timer's moment passes
    assert not fired.is_set()
