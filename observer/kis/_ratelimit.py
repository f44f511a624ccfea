"""One request-rate limiter per app key, shared by every request on that key.

A GCRA token bucket (equivalent to a leaky bucket): each caller reserves the next free slot
before it waits, so concurrent callers are served in arrival order and never exceed ``rate``
per second on average nor ``burst`` at once. ``cooldown`` pushes every future slot back (after
KIS answered EGW00201). Time comes from an injected ``Clock``.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import Final

from ._clock import SYSTEM_CLOCK, Clock
from ._secrets import Secret

__all__ = ["RateLimiter", "shared_limiter"]


class RateLimiter:
    """At most ``rate_per_s`` acquisitions a second, ``burst`` back to back; ``<= 0`` is off."""

    def __init__(self, rate_per_s: float, *, burst: int = 1, clock: Clock | None = None) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._tolerance = (burst - 1) * self._interval
        self._tat: float | None = None  # theoretical arrival time of the next request
        self._cooldown_until = float("-inf")
        self.acquired = 0
        self.waited_s = 0.0

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        self.acquired += 1
        if self.enabled:
            now = self._clock.monotonic()
            tat = now if self._tat is None else max(self._tat, now)
            wait = tat - self._tolerance - now
            self._tat = tat + self._interval
            if wait > 0:
                self.waited_s += wait
                await self._clock.sleep(wait)
        # a cooldown declared while this caller slept holds it back too
        while (left := self._cooldown_until - self._clock.monotonic()) > 0:
            self.waited_s += left
            await self._clock.sleep(left)

    def cooldown(self, seconds: float) -> None:
        """No caller proceeds for ``seconds`` from now, including those already waiting."""
        if seconds <= 0:
            return
        until = self._clock.monotonic() + seconds
        self._cooldown_until = max(self._cooldown_until, until)
        if self.enabled and (self._tat is None or self._tat < until):
            self._tat = until


_SHARED: Final[weakref.WeakValueDictionary[tuple[str, str, float, int, int], RateLimiter]] = (
    weakref.WeakValueDictionary()
)


def shared_limiter(
    app_key: Secret,
    environment: str,
    rate_per_s: float,
    *,
    burst: int = 1,
    clock: Clock | None = None,
) -> RateLimiter:
    """The one limiter of this app key in this process (alive while any client holds it)."""
    clock = clock or SYSTEM_CLOCK
    key_hash = hashlib.sha256(app_key.reveal().encode()).hexdigest()
    slot = (key_hash, environment, rate_per_s, burst, id(clock))
    limiter = _SHARED.get(slot)
    if limiter is None:
        limiter = RateLimiter(rate_per_s, burst=burst, clock=clock)
        _SHARED[slot] = limiter
    return limiter
