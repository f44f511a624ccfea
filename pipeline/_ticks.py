"""KRX tick grid (호가가격단위) for stocks, the unified table in force since 2023-01-25.

KOSPI, KOSDAQ and KONEX share one table since 2023-01-25 (KRX notice of 2023-01-17; it
cut the tick in the 1,000–2,000, 10,000–20,000 and 100,000–200,000 bands):

=====================  ======
price (KRW)            tick
=====================  ======
< 2,000                1
2,000 – < 5,000        5
5,000 – < 20,000       10
20,000 – < 50,000      50
50,000 – < 200,000     100
200,000 – < 500,000    500
>= 500,000             1,000
=====================  ======

ETFs and ETNs trade on a different grid (1 below 2,000, else 5); the enrichment only
*reports* conformity to the stock grid, it never rejects on it.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final

__all__ = ["TICK_TABLE", "ceil_to_tick", "floor_to_tick", "on_tick", "tick_size"]

_BOUNDS: Final = (2_000, 5_000, 20_000, 50_000, 200_000, 500_000)
_TICKS: Final = (1, 5, 10, 50, 100, 500, 1_000)

#: ``(lower bound inclusive, tick)`` rows of the table, ascending.
TICK_TABLE: Final[tuple[tuple[int, int], ...]] = tuple(zip((0, *_BOUNDS), _TICKS, strict=True))


def tick_size(price: int) -> int:
    """The KRX stock tick for ``price`` (KRW). A band's lower bound belongs to that band."""
    return _TICKS[bisect_right(_BOUNDS, price)]


def on_tick(price: int) -> bool:
    """``True`` when ``price`` is positive and a multiple of its tick."""
    return price > 0 and price % _TICKS[bisect_right(_BOUNDS, price)] == 0


def floor_to_tick(price: int) -> int:
    """The highest price on the grid that is ``<= price``."""
    return price - price % tick_size(price)


def ceil_to_tick(price: int) -> int:
    """The lowest price on the grid that is ``>= price``.

    Every band boundary is a multiple of the coarser tick above it, so rounding up with the
    tick of ``price`` always lands on the grid.
    """
    tick = tick_size(price)
    return -(-price // tick) * tick
