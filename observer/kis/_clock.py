"""Injected time for the KIS clients: wall time (aware UTC), a monotonic clock and sleep.

Tests pass a ``ManualClock`` whose ``sleep`` advances time at once, so a 60 s throttle wait or a
silence watchdog runs in microseconds and every wait it asked for is recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Protocol

import anyio
import anyio.lowlevel

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Wall time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class SystemClock:
    """The real clocks: ``datetime.now(UTC)``, the event loop's clock and ``anyio.sleep``."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))


SYSTEM_CLOCK: Final = SystemClock()


class ManualClock:
    """A clock for tests: ``sleep`` advances both clocks at once (after a checkpoint)."""

    def __init__(self, start: dt.datetime, monotonic: float = 1000.0) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(dt.UTC)
        self._mono = monotonic
        self.sleeps: list[float] = []

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()
