"""The simulator's clock: market time in KST that can be set to any instant and run N× fast.

``SimClock`` satisfies ``observer._clock.Clock`` (``speed``, ``now``, ``monotonic``, ``sleep``,
``sleep_until``), so the collectors can be handed the very clock the simulated market runs on.
Market time is ``anchor + (wall - wall_anchor) * speed``; ``set`` and ``set_speed`` re-anchor
without a jump in the other quantity. The wall source is injected (``time.monotonic`` by
default, the same clock asyncio's loop uses), so tests can drive it by hand.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Final

import anyio

from pipeline import KST

__all__ = ["SimClock"]

_UTC: Final = dt.UTC


class SimClock:
    """Simulated KST market time, ``speed`` times faster than the wall clock."""

    def __init__(
        self,
        start: dt.datetime,
        speed: float = 1.0,
        *,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start")
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self._wall = wall
        self._anchor = start.astimezone(_UTC)
        self._wall_anchor = wall()
        self._speed = float(speed)
        self._mono_base = 0.0  # monotonic() accumulates across re-anchoring

    def __repr__(self) -> str:
        return f"SimClock(now={self.now_kst().isoformat()}, speed={self._speed:g})"

    @property
    def speed(self) -> float:
        return self._speed

    def _elapsed(self) -> float:
        return (self._wall() - self._wall_anchor) * self._speed

    def now(self) -> dt.datetime:
        """Current market time, timezone-aware (UTC)."""
        return self._anchor + dt.timedelta(seconds=self._elapsed())

    def now_kst(self) -> dt.datetime:
        """Current market time in KST."""
        return self.now().astimezone(KST)

    def monotonic(self) -> float:
        """Simulated seconds since the clock was built; never goes back, even across ``set``."""
        return self._mono_base + self._elapsed()

    def set(self, when: dt.datetime) -> None:
        """Jump market time to ``when`` (aware); the speed is kept."""
        if when.tzinfo is None:
            raise ValueError("SimClock.set needs a timezone-aware datetime")
        self._mono_base += self._elapsed()
        self._anchor = when.astimezone(_UTC)
        self._wall_anchor = self._wall()

    def set_day_time(self, day: dt.date, at: dt.time) -> None:
        """Jump to ``at`` (KST wall-clock time) on trading day ``day``."""
        self.set(dt.datetime.combine(day, at, tzinfo=KST))

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on, keeping the current market time."""
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        now = self.now()
        self._mono_base += self._elapsed()
        self._anchor = now
        self._wall_anchor = self._wall()
        self._speed = float(speed)

    def to_wall(self, sim_seconds: float) -> float:
        """Wall seconds that ``sim_seconds`` of market time take at the current speed."""
        return max(0.0, sim_seconds) / self._speed

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(self.to_wall(seconds))

    async def sleep_until(self, when: dt.datetime) -> None:
        # the clock itself is the event: sleep, then re-read it (the speed may have changed)
        while (remaining := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining / self._speed)
