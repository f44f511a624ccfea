"""The KRX stock tick grid (unified table since 2023-01-25)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import ceil_to_tick, floor_to_tick, on_tick, tick_size

prices = st.integers(min_value=1, max_value=5_000_000)


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (1, 1),
        (1_999, 1),
        (2_000, 5),
        (4_995, 5),
        (5_000, 10),
        (19_990, 10),
        (20_000, 50),
        (49_950, 50),
        (50_000, 100),
        (199_900, 100),
        (200_000, 500),
        (499_500, 500),
        (500_000, 1_000),
        (2_000_000, 1_000),
    ],
)
def test_tick_size_follows_the_krx_table(price: int, tick: int) -> None:
    """Each band's lower bound belongs to that band; the tick is the table's."""
    assert tick == tick_size(price)


@pytest.mark.parametrize(
    ("price", "expected"),
    [(1_234, True), (2_003, False), (2_005, True), (15_055, False), (150_100, True), (0, False)],
)
def test_on_tick(price: int, expected: bool) -> None:
    """A price is on the grid when positive and a multiple of its tick."""
    assert expected == on_tick(price)


@given(prices)
def test_floor_to_tick_is_the_highest_grid_price_not_above(price: int) -> None:
    """floor_to_tick(p) <= p, is on the grid, and the next grid price is above p."""
    low = floor_to_tick(price)
    assert (True, True, True) == (
        low <= price,
        on_tick(low),
        low + tick_size(low) > price,
    )


@given(prices)
def test_ceil_to_tick_is_the_lowest_grid_price_not_below(price: int) -> None:
    """ceil_to_tick(p) >= p, is on the grid, and no grid price lies in [p, ceil)."""
    high = ceil_to_tick(price)
    below = floor_to_tick(high - 1) if high > 1 else 0
    assert (True, True, True) == (high >= price, on_tick(high), below < price)
