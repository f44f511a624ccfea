"""Injected clocks for the collectors and the scheduler.

Two implementations of one protocol:

- ``RealClock``: wall time in UTC, the event loop's monotonic clock, ``anyio.sleep``.
- ``SimulatedClock``: market time that starts at a chosen instant and runs ``speed`` times
  faster than the wall, like the embedded simulator's market. ``sleep(s)`` waits ``s``
  *simulated* seconds (``s / speed`` on the wall), so a job scheduled every simulated second
  fires ten times a wall second at 10x.

The protocol is a superset of ``observer.kis.Clock`` (``now``, ``monotonic``, ``sleep``), so
either clock can be handed to code written against that one. Rate limits are a property of the
broker's wall clock: the app key's request budget counts wall seconds, and only receive times,
token lifetimes and the schedule follow market time. The one exception is a compressed
simulated day (``observer run --simulate``): its simulator counts the limit per market second,
so that the day gets a live day's budget per second of the market, and the budget follows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

import anyio

__all__ = ["Clock", "RealClock", "SimulatedClock"]

_TOP_UPS = 4  # one sleep, then a few top-ups when the event loop's timer wakes early


class Clock(Protocol):
    @property
    def speed(self) -> float:
        """Clock seconds per wall second (1.0 for the real clock)."""
        ...

    def now(self) -> dt.datetime:
        """Current time on this clock, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on this clock that never go back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    async def sleep_until(self, when: dt.datetime) -> None:
        """Wait until ``now() >= when`` (returns at once when it already is)."""
        ...


class RealClock:
    """Wall time (UTC), the event loop's clock and ``anyio.sleep``."""

    @property
    def speed(self) -> float:
        return 1.0

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: dt.datetime) -> None:
        # Sleep in one go, then top up: the loop's timer may wake a hair early.
        for _ in range(_TOP_UPS):
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            await anyio.sleep(remaining)


class SimulatedClock:
    """Market time from ``start``, running ``speed`` times the wall clock.

    ``wall`` is the monotonic wall clock it follows (the event loop's by default, so sleeps and
    readings agree); it is read the first time the clock is used, so building the clock outside
    the event loop is fine.
    """

    def __init__(
        self,
        start: dt.datetime,
        speed: float = 1.0,
        *,
        wall: Callable[[], float] | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self._start = start.astimezone(dt.UTC)
        self._speed = float(speed)
        self._wall = wall if wall is not None else anyio.current_time
        self._wall0: float | None = None

    def __repr__(self) -> str:
        return f"SimulatedClock(start={self._start.isoformat()}, speed={self._speed:g})"

    @property
    def speed(self) -> float:
        return self._speed

    def _elapsed(self) -> float:
        wall = self._wall()
        if self._wall0 is None:
            self._wall0 = wall
        return (wall - self._wall0) * self._speed

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        return self._elapsed()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds) / self._speed)

    async def sleep_until(self, when: dt.datetime) -> None:
        for _ in range(_TOP_UPS):
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            await anyio.sleep(remaining / self._speed)
