"""Tickers: the simulated-clock loop and the APScheduler driver fire the plan on time."""

from __future__ import annotations

import datetime as dt

import anyio
import pytest

from observer._clock import RealClock, SimulatedClock
from observer.schedule import (
    SchedulePlan,
    Tick,
    TickKind,
    TradingSession,
    run_apscheduler_ticker,
    run_clock_ticker,
)
from pipeline import KST

DAY = dt.date(2025, 11, 12)
SESSION = TradingSession(
    day=DAY,
    open=dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST),
    close=dt.datetime(2025, 11, 12, 15, 30, tzinfo=KST),
)


class JumpClock:
    """A clock whose sleeps jump straight to the deadline, then a fixed lag past it."""

    def __init__(self, start: dt.datetime, lag: dt.timedelta = dt.timedelta(0)) -> None:
        self._now = start
        self._lag = lag

    @property
    def speed(self) -> float:
        return 1.0

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._now.timestamp()

    async def sleep(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)
        await anyio.lowlevel.checkpoint()

    async def sleep_until(self, when: dt.datetime) -> None:
        self._now = max(self._now, when) + self._lag
        await anyio.lowlevel.checkpoint()


async def collect(plan: SchedulePlan, clock: JumpClock) -> list[Tick]:
    send, receive = anyio.create_memory_object_stream[Tick](4)
    ticks: list[Tick] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_clock_ticker, plan, clock, send)
        async with receive:
            async for tick in receive:
                ticks.append(tick)
    return ticks


@pytest.mark.anyio
async def test_clock_ticker_sends_every_tick_of_the_plan() -> None:
    """On a clock that is never late, the ticker sends exactly the plan's ticks."""
    start = dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST)
    plan = SchedulePlan.for_session(SESSION, start=start, length=dt.timedelta(seconds=30))
    with anyio.fail_after(10):
        ticks = await collect(plan, JumpClock(start))
    assert list(plan.ticks()) == ticks


@pytest.mark.anyio
async def test_clock_ticker_marks_late_scalp_ticks_missed() -> None:
    """A clock that wakes 2 s late marks every scalp tick missed rather than running it."""
    start = dt.datetime(2025, 11, 12, 9, 0, 1, tzinfo=KST)
    plan = SchedulePlan.for_session(
        SESSION, start=start, length=dt.timedelta(seconds=5), swing=False
    )
    with anyio.fail_after(10):
        ticks = await collect(plan, JumpClock(start, lag=dt.timedelta(seconds=2)))
    scalps = [t for t in ticks if t.kind is TickKind.SCALP]
    assert [True] * len(scalps) == [t.missed for t in scalps]


@pytest.mark.anyio
async def test_clock_ticker_follows_a_fast_simulated_clock() -> None:
    """At 200x a 20-second simulated slice strikes all 20 scalp seconds."""
    start = dt.datetime(2025, 11, 12, 10, 0, tzinfo=KST)
    clock = SimulatedClock(start, speed=200.0)
    plan = SchedulePlan.for_session(
        SESSION, start=start, length=dt.timedelta(seconds=20), swing=False
    )
    send, receive = anyio.create_memory_object_stream[Tick](64)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_clock_ticker, plan, clock, send)
            async with receive:
                scalps = [t.scheduled async for t in receive if t.kind is TickKind.SCALP]
    assert list(plan.scalp_times()) == scalps


class LaggingClock(RealClock):
    """Wall time, read ``lag`` late: the ticker believes a second is still ahead while
    APScheduler (which reads the wall clock itself) already finds it past."""

    def __init__(self, lag: dt.timedelta) -> None:
        self._lag = lag

    def now(self) -> dt.datetime:
        return super().now() - self._lag


def wall_plan(start: dt.datetime, seconds: int) -> SchedulePlan:
    """A plan on today's wall clock, in session, logging in at its start (whatever the hour)."""
    session = TradingSession(
        day=start.astimezone(KST).date(),
        open=(start - dt.timedelta(minutes=1)).astimezone(KST),
        close=(start + dt.timedelta(hours=1)).astimezone(KST),
    )
    return SchedulePlan.for_session(
        session, start=start, length=dt.timedelta(seconds=seconds), login_time=dt.time(0, 0)
    )


async def wall_ticks(plan: SchedulePlan, clock: RealClock) -> list[Tick]:
    send, receive = anyio.create_memory_object_stream[Tick](64)
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            await tg.start(run_apscheduler_ticker, plan, clock, send)
            async with receive:
                return [t async for t in receive]


def shape(ticks: list[Tick]) -> list[tuple[TickKind, dt.datetime, bool]]:
    return [(t.kind, t.scheduled, t.final) for t in ticks]


@pytest.mark.anyio
async def test_apscheduler_ticker_strikes_each_second_on_the_wall_clock() -> None:
    """APScheduler fires three consecutive scalp seconds, then the final swing and close."""
    clock = RealClock()
    start = clock.now().replace(microsecond=0) + dt.timedelta(seconds=1)
    plan = wall_plan(start, 3)
    ticks = await wall_ticks(plan, clock)
    expected = [(TickKind.LOGIN, start, False)]
    expected += [(TickKind.SCALP, start + dt.timedelta(seconds=s), False) for s in range(3)]
    expected += [
        (TickKind.SWING, start + dt.timedelta(seconds=3), True),
        (TickKind.CLOSE, start + dt.timedelta(seconds=3), False),
    ]
    assert expected == shape(ticks)
    assert [False] * len(ticks) == [t.missed for t in ticks]


@pytest.mark.anyio
async def test_apscheduler_ticker_runs_a_second_that_passed_while_it_started() -> None:
    """A first second already past for APScheduler is run, not skipped by its trigger."""
    clock = LaggingClock(dt.timedelta(milliseconds=1500))
    # Past on the wall clock by 0.5-1.5 s, ahead on the ticker's clock.
    start = (clock.now() + dt.timedelta(seconds=1)).replace(microsecond=0)
    plan = wall_plan(start, 3)
    ticks = await wall_ticks(plan, clock)
    assert shape(list(plan.ticks())) == shape(ticks)
    assert [False] * len(ticks) == [t.missed for t in ticks]


@pytest.mark.anyio
async def test_apscheduler_ticker_books_seconds_already_past_as_missed() -> None:
    """Started 3 s into its plan, the ticker sends every tick in order; the old ones missed."""
    clock = RealClock()
    began = clock.now()
    start = began.replace(microsecond=0) - dt.timedelta(seconds=3)
    plan = wall_plan(start, 5)
    ticks = await wall_ticks(plan, clock)
    assert shape(list(plan.ticks())) == shape(ticks)
    scalps = [t for t in ticks if t.kind is TickKind.SCALP]
    old = [t.missed for t in scalps if t.scheduled <= began - dt.timedelta(seconds=2)]
    new = [t.missed for t in scalps if t.scheduled > began]
    assert (len(old), len(new)) == (2, 1)
    assert [True, True, False] == old + new
    assert not any(t.missed for t in ticks if t.kind is not TickKind.SCALP)
