"""The deterministic market model: universe, tick grid, limits, VI, determinism."""

from __future__ import annotations

import datetime as dt
import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from observer.sim import SessionHours, SimMarket, tick_of
from observer.sim._market import CLOSE_CALL_S, CLOSE_S, OPEN_S, floor_tick
from pipeline import KST
from pipeline._ticks import on_tick

DAY = dt.date(2026, 11, 24)


@functools.cache
def market(seed: int = 7, n: int = 300) -> SimMarket:
    return SimMarket(seed, n, DAY)


seconds = st.integers(min_value=-100, max_value=CLOSE_S + 100)
positions = st.integers(min_value=0, max_value=299)


def test_universe_has_unique_six_digit_codes() -> None:
    """2,500 symbols, unique 6-digit codes."""
    m = SimMarket(7, 2500, DAY)
    codes = [s.code for s in m.symbols]
    assert (2500, True) == (len(set(codes)), all(len(c) == 6 and c.isdigit() for c in codes))


def test_universe_spans_kospi_and_kosdaq() -> None:
    """Both markets are present."""
    assert {"KOSPI", "KOSDAQ"} == {s.market for s in market().symbols}


def test_universe_is_the_same_for_the_same_seed() -> None:
    """The universe is a function of the seed."""
    assert SimMarket(3, 50, DAY).master() == SimMarket(3, 50, DAY).master()


def test_universe_differs_between_seeds() -> None:
    """Another seed gives another universe."""
    assert SimMarket(3, 50, DAY).master() != SimMarket(4, 50, DAY).master()


def test_limits_are_on_the_grid_and_thirty_percent() -> None:
    """Upper/lower limits are on the tick grid, within ±30 % of the base, one tick of it."""
    bad = []
    for sym in market().symbols:
        base, upper, lower = market().limits(sym)
        if not (on_tick(upper) and on_tick(lower) and upper <= base * 1.3 < upper + tick_of(upper)):
            bad.append(sym.code)
        if not (lower >= base * 0.7 > lower - tick_of(lower)):
            bad.append(sym.code)
    assert [] == bad


@given(positions, seconds)
def test_price_is_on_the_tick_grid_within_limits(position: int, second: int) -> None:
    """Every quoted price is a grid price within the day's limits."""
    m = market()
    q = m.quote(m.symbols[position], second)
    assert (True, True) == (on_tick(q.price), q.lower <= q.price <= q.upper)


@given(st.lists(st.tuples(positions, seconds), min_size=1, max_size=30))
def test_same_seed_and_time_give_the_same_quote_whatever_the_order(
    asks: list[tuple[int, int]],
) -> None:
    """A fresh market asked in another order answers each (symbol, second) identically."""
    m1 = SimMarket(7, 300, DAY)
    m2 = SimMarket(7, 300, DAY)
    first = [m1.quote(m1.symbols[p], s) for p, s in asks]
    second = [m2.quote(m2.symbols[p], s) for p, s in reversed(asks)][::-1]
    assert first == second


@given(positions, st.integers(min_value=0, max_value=CLOSE_S))
def test_cumulative_volume_never_decreases(position: int, second: int) -> None:
    """acml_vol at s+60 >= acml_vol at s."""
    m = market()
    sym = m.symbols[position]
    assert m.quote(sym, second).acml_vol <= m.quote(sym, second + 60).acml_vol


@given(positions, st.integers(min_value=OPEN_S, max_value=CLOSE_S - 120))
def test_trades_fold_into_the_quote(position: int, second: int) -> None:
    """The last trade's cumulative volume and count equal the quote's at the window end."""
    m = market()
    sym = m.symbols[position]
    before = m.quote(sym, second)
    after = m.quote(sym, second + 120)
    trades = m.trades(sym, second, second + 120)
    last_vol = trades[-1].acml_vol if trades else before.acml_vol
    assert (after.trades - before.trades, after.acml_vol) == (len(trades), last_vol)


def test_no_trades_before_the_opening_auction() -> None:
    """Nothing trades during the opening call; the 09:00 auction is the first trade."""
    m = market()
    sym = m.symbols[0]
    trades = m.trades(sym, -1, OPEN_S)
    assert [(OPEN_S, True)] == [(t.second, t.auction) for t in trades]


def test_no_trades_during_the_closing_call() -> None:
    """Between 15:20 and 15:30 nothing trades; the closing auction trades at 15:30."""
    m = market()
    trades = m.trades(m.symbols[0], CLOSE_CALL_S - 1, CLOSE_S)
    assert [CLOSE_S] == [t.second for t in trades]


def test_volatility_interruptions_happen_and_halt_trading() -> None:
    """Some symbol has a VI; while it lasts there are no trades and vi_ref is the last price."""
    m = SimMarket(7, 300, DAY, jumps_per_session=2.0)
    found = None
    for sym in m.symbols:
        for second in range(OPEN_S + 60, CLOSE_CALL_S, 60):
            q = m.quote(sym, second)
            if q.vi_active:
                found = (sym, q)
                break
        if found:
            break
    assert found is not None
    sym, q = found
    trades_during = m.trades(sym, q.second - 1, q.second)
    assert ([], True, "C") == (trades_during, q.vi_ref > 0, q.phase.hour_cls_code)


def test_book_levels_are_on_grid_and_ordered() -> None:
    """Orderbook prices are grid prices, asks ascending above bids descending."""
    m = market()
    b = m.book(m.symbols[5], 5000)
    asks = [p for p in b.asks if p]
    bids = [p for p in b.bids if p]
    ok = all(on_tick(p) for p in asks + bids)
    assert (True, sorted(asks), sorted(bids, reverse=True), True) == (
        ok, asks, bids, asks[0] > bids[0],
    )  # fmt: skip


def test_floor_tick_matches_the_pipeline_grid() -> None:
    """The simulator's grid agrees with pipeline._ticks on band edges."""
    prices = [
        1999,
        2000,
        4999,
        5000,
        19_999,
        20_000,
        49_999,
        50_000,
        199_999,
        200_000,
        499_999,
        500_000,
    ]
    from pipeline._ticks import floor_to_tick

    assert [floor_to_tick(p) for p in prices] == [floor_tick(p) for p in prices]


def test_index_quote_is_deterministic() -> None:
    """The KOSPI index at a second is the same from two markets."""
    assert market().index_quote("0001", 9000) == SimMarket(7, 300, DAY).index_quote("0001", 9000)


@settings(max_examples=20)
@given(
    st.lists(positions, min_size=1, max_size=8, unique=True),
    st.integers(min_value=0, max_value=CLOSE_S),
    st.integers(min_value=0, max_value=CLOSE_S),
)
def test_batched_quotes_equal_single_quotes(positions_: list[int], first: int, second: int) -> None:
    """Quotes computed together (after an earlier batch) equal quotes computed one by one."""
    m1 = SimMarket(7, 300, DAY)
    m2 = SimMarket(7, 300, DAY)
    m1.advance([m1.symbols[p] for p in positions_[::2]], min(first, second))
    batch = m1.quote_many([m1.symbols[p] for p in positions_], max(first, second))
    single = [m2.quote(m2.symbols[p], max(first, second)) for p in positions_]
    assert single == batch


# ---------------------------------------------------------------- days with other hours

CSAT = SessionHours.of(dt.time(10, 0), dt.time(16, 30))  # a CSAT day: an hour later
FIRST = SessionHours.of(dt.time(10, 0), dt.time(15, 30))  # the year's first session


@functools.cache
def late_market(hours: SessionHours, n: int = 300) -> SimMarket:
    return SimMarket(7, n, DAY, session_hours={DAY: hours})


@settings(max_examples=25)
@given(positions, seconds)
def test_a_day_an_hour_later_is_the_usual_day_an_hour_later(position: int, second: int) -> None:
    """On a CSAT day (10:00-16:30) each market second has the usual day's quote, one hour
    later on the clock: the same prices, volumes and phase, an exchange time +1 h."""
    usual, late = market(), late_market(CSAT)
    q, r = usual.quote(usual.symbols[position], second), late.quote(late.symbols[position], second)
    assert (q._replace(hours=CSAT), q.exchange_time + dt.timedelta(hours=1)) == (
        r,
        r.exchange_time,
    )


def test_the_clock_maps_onto_the_late_days_market_seconds() -> None:
    """16:00 KST on a CSAT day is continuous trading and 16:25 the closing call; the usual
    day is over by then. The wire's times read the late clock."""
    late = late_market(CSAT)
    at = dt.datetime.combine(DAY, dt.time(16, 0), tzinfo=KST)
    s = late.second_of(at)
    q = late.quote(late.symbols[0], s)
    calls = late.second_of(at + dt.timedelta(minutes=25))
    assert (
        "continuous",
        "closing_call",
        "post_close",
        q.exchange_time,
        late.time_of(OPEN_S).time(),
        CSAT.hhmmss(s),
    ) == (
        q.phase.name,
        late.quote(late.symbols[0], calls).phase.name,
        market().quote(market().symbols[0], market().second_of(at)).phase.name,
        at,
        dt.time(10, 0),
        "160000",
    )


def test_a_shorter_day_closes_at_its_close() -> None:
    """The year's first session (10:00-15:30): the closing call starts at 15:20, the closing
    auction is the only trade after it, at 15:30, and the state is final from then on."""
    m = late_market(FIRST)
    sym = m.symbols[0]
    close_s = m.second_of(dt.datetime.combine(DAY, dt.time(15, 30), tzinfo=KST))
    trades = m.trades(sym, close_s - 600 - 1, close_s + 600)
    phases = [m.quote(sym, close_s + d).phase.name for d in (-601, -600, -1, 0)]
    assert (
        (21_600, [close_s], ["continuous", "closing_call", "closing_call", "post_close"]),
        m.quote(sym, close_s),
    ) == ((m.close_s, [t.second for t in trades], phases), m.quote(sym, close_s + 1_000))
