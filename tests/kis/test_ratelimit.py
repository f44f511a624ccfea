"""The per-app-key rate limiter on an injected clock."""

from __future__ import annotations

import datetime as dt

import anyio
import anyio.lowlevel
import pytest

from observer.kis import ManualClock, RateLimiter

pytestmark = pytest.mark.anyio

START = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


async def test_requests_are_spaced_by_one_over_the_rate(clock: ManualClock) -> None:
    """At 2/s, five acquisitions start at 0, 0.5, 1.0, 1.5 and 2.0 s."""
    limiter = RateLimiter(2.0, clock=clock)
    start = clock.monotonic()
    starts = []
    for _ in range(5):
        await limiter.acquire()
        starts.append(round(clock.monotonic() - start, 6))
    assert starts == [0.0, 0.5, 1.0, 1.5, 2.0]


async def test_burst_allows_back_to_back_requests_then_spaces(clock: ManualClock) -> None:
    """With burst 3 the first three go at once, the fourth waits one interval."""
    limiter = RateLimiter(10.0, burst=3, clock=clock)
    starts = []
    for _ in range(4):
        await limiter.acquire()
        starts.append(round(clock.monotonic() - 1000.0, 6))
    assert starts == [0.0, 0.0, 0.0, 0.1]


class FrozenClock(ManualClock):
    """Time stands still; each sleep records when its caller would wake."""

    def __init__(self) -> None:
        super().__init__(START)
        self.wakes: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.wakes.append(self.monotonic() + seconds)
        await anyio.lowlevel.checkpoint()


async def test_no_second_window_exceeds_the_rate() -> None:
    """60 callers arriving together at 18/s never put more than 18 starts in any 1 s window."""
    clock = FrozenClock()
    limiter = RateLimiter(18.0, clock=clock)
    async with anyio.create_task_group() as tg:
        for _ in range(60):
            tg.start_soon(limiter.acquire)
    starts = sorted([clock.monotonic()] * (60 - len(clock.wakes)) + clock.wakes)
    worst = max(sum(1 for t in starts if s <= t < s + 1.0 - 1e-9) for s in starts)
    expected = (18, 60)
    assert expected == (worst, len(starts))


async def test_cooldown_holds_back_callers(clock: ManualClock) -> None:
    """After cooldown(1.0) the next acquisition starts 1 s later."""
    limiter = RateLimiter(18.0, clock=clock)
    await limiter.acquire()
    limiter.cooldown(1.0)
    start = clock.monotonic()
    await limiter.acquire()
    assert pytest.approx(clock.monotonic() - start) == 1.0


async def test_disabled_limiter_never_waits_but_still_cools_down(clock: ManualClock) -> None:
    """Rate 0 means no spacing; a cooldown still pauses callers."""
    limiter = RateLimiter(0, clock=clock)
    for _ in range(100):
        await limiter.acquire()
    no_wait = list(clock.sleeps)
    limiter.cooldown(0.5)
    await limiter.acquire()
    assert (no_wait, clock.sleeps) == ([], [0.5])
