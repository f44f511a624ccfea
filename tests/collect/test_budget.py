"""The shared request budget: one rate for every lane, scalp fallbacks served first."""

from __future__ import annotations

import datetime as dt

import anyio
import anyio.lowlevel
import pytest

from observer._clock import SimulatedClock
from observer.collect._budget import SharedBudget


@pytest.mark.anyio
async def test_high_lane_overtakes_waiting_low_requests() -> None:
    """With four swing requests queued, a fallback that arrives later goes second."""
    budget = SharedBudget(50.0)
    order: list[str] = []

    async def take(name: str, high: bool) -> None:
        await (budget.high if high else budget.low).acquire()
        order.append(name)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(take, f"swing{n}", False)
            await anyio.lowlevel.checkpoint()  # let the swing requests queue up first
            await anyio.lowlevel.checkpoint()
            tg.start_soon(take, "fallback", True)
    assert "fallback" == order[1]


@pytest.mark.anyio
async def test_every_lane_shares_one_rate() -> None:
    """Ten requests over both lanes at 100/s take at least 9 slot intervals."""
    budget = SharedBudget(100.0)
    started = anyio.current_time()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for n in range(10):
                tg.start_soon((budget.high if n % 2 else budget.low).acquire)
    assert True is (anyio.current_time() - started >= 9 * 0.01 * 0.99)


@pytest.mark.anyio
async def test_cooldown_holds_every_lane() -> None:
    """After a rate-limit cooldown of 0.1 s, even the high lane waits it out."""
    budget = SharedBudget(1000.0)
    budget.cooldown(0.1)
    started = anyio.current_time()
    with anyio.fail_after(5):
        await budget.high.acquire()
    assert True is (anyio.current_time() - started >= 0.099)


@pytest.mark.anyio
async def test_budget_counts_seconds_of_its_clock() -> None:
    """On a clock 50x the wall, 11 requests at 10/s span a second of that clock, not of the wall.

    (A compressed simulated day: its gateway counts market seconds, and the budget follows.)
    """
    clock = SimulatedClock(dt.datetime(2025, 11, 12, tzinfo=dt.UTC), 50.0)
    budget = SharedBudget(10.0, clock=clock)
    started, wall = clock.monotonic(), anyio.current_time()
    with anyio.fail_after(5):
        for n in range(11):
            await (budget.high if n % 2 else budget.low).acquire()
    spent, wall = clock.monotonic() - started, anyio.current_time() - wall
    assert (True, True) == (spent >= 0.99, wall < 0.5)  # the wall clock's budget: >= 1 s
