"""One app key's request budget, shared by swing and scalp, with scalp fallbacks served first.

KIS counts every REST request of an app key against one per-second limit. The swing cycle
sends its 84 calls back to back; a scalp fallback that queued behind them would wait seconds
and then several seconds' answers would arrive at once (the Guard rightly drops such a
burst). So the budget has two lanes: a request on the ``high`` lane (scalp fallback) takes
the next free slot before any waiting ``low`` one (swing).

Slots are spaced ``1 / rate`` apart on the clock the broker counts on: the wall clock (the
default; the limit guards the broker's server, whatever the market clock does), or the
simulator's market clock when it counts its limit in market seconds (a compressed simulated
day). A ``cooldown`` (after ``EGW00201``) holds every lane back. A lane is handed to
``KisRestClient(limiter=...)``: it has the limiter's ``acquire`` and ``cooldown``.
"""

from __future__ import annotations

from .._clock import Clock, RealClock

__all__ = ["Lane", "SharedBudget"]


class SharedBudget:
    """At most ``rate_per_s`` requests a second of ``clock`` across all lanes; high first."""

    def __init__(self, rate_per_s: float, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else RealClock()
        self.rate_per_s = rate_per_s
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._next = float("-inf")
        self._cooldown_until = float("-inf")
        self._high_waiting = 0
        self.acquired = 0
        self.waited_s = 0.0
        self.high = Lane(self, high=True)
        self.low = Lane(self, high=False)

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    async def acquire(self, *, high: bool) -> None:
        self.acquired += 1
        if not self.enabled:
            return
        clock = self._clock
        started = clock.monotonic()
        if high:
            self._high_waiting += 1
        try:
            while True:
                now = clock.monotonic()
                slot = max(self._next, self._cooldown_until, now)
                if slot <= now and (high or self._high_waiting == 0):
                    self._next = now + self._interval
                    return
                # not our turn yet: wait for the slot (a low request also yields to high ones)
                await clock.sleep(max(slot - now, self._interval / 4))
        finally:
            if high:
                self._high_waiting -= 1
            self.waited_s += clock.monotonic() - started

    def cooldown(self, seconds: float) -> None:
        """No lane proceeds for ``seconds`` (of the budget's clock) from now."""
        if seconds > 0:
            self._cooldown_until = max(self._cooldown_until, self._clock.monotonic() + seconds)


class Lane:
    """One priority of a ``SharedBudget``, shaped like ``observer.kis.RateLimiter``."""

    def __init__(self, budget: SharedBudget, *, high: bool) -> None:
        self._budget = budget
        self._high = high

    @property
    def enabled(self) -> bool:
        return self._budget.enabled

    @property
    def rate_per_s(self) -> float:
        return self._budget.rate_per_s

    async def acquire(self) -> None:
        await self._budget.acquire(high=self._high)

    def cooldown(self, seconds: float) -> None:
        self._budget.cooldown(seconds)
