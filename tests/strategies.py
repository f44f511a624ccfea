"""Reusable hypothesis strategies for the event model (shared by pipeline and archive tests).

Two kinds:

- *Any* records (``snapshots``, ``raw_events``, ``ledger_entries``, …): every field drawn over
  its whole type, within what JSON can carry (finite floats, 64-bit ints, UTF-8 text,
  whole-minute UTC offsets). For round trips and byte-determinism properties.
- *Plausible* snapshots (``valid_snapshots``, ``partition_snapshots``): what a healthy KRX
  feed would send, so that they pass ``pipeline.validate`` and ``pipeline.guard`` with the
  default ``PipelineConfig`` (prices on the tick grid inside the ±30 % band around the
  previous close, low ≤ last ≤ high, bid ≤ ask, exchange time in the regular session of
  the trading day, received within seconds).

Import as ``from tests.strategies import valid_snapshots`` (pytest runs with
``--import-mode=importlib`` from the repository root) or ``from strategies import …``
when ``tests/`` is on the path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from pipeline import (
    KST,
    CollectionFailed,
    CycleEnded,
    CycleStarted,
    Enrichment,
    Environment,
    FailureCause,
    LedgerEntry,
    Lineage,
    Market,
    Mode,
    ObservationSnapshot,
    RestResponse,
    ScalpStruck,
    SessionPhase,
    Source,
    WsFrame,
    ceil_to_tick,
    floor_to_tick,
    tick_size,
)

__all__ = [
    "aware_datetimes",
    "cycle_ids",
    "enrichments",
    "int64s",
    "json_floats",
    "json_text",
    "ledger_entries",
    "lineages",
    "non_negative_ints",
    "partition_snapshots",
    "raw_events",
    "snapshots",
    "symbols",
    "trading_days",
    "valid_snapshots",
]

UTC = dt.UTC

# ---------------------------------------------------------------- primitives

int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
non_negative_ints = st.integers(min_value=0, max_value=2**63 - 1)
json_floats = st.floats(allow_nan=False, allow_infinity=False)
# msgspec refuses lone surrogates; everything else in UTF-8 round-trips.
json_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
symbols = st.from_regex(r"[0-9]{6}", fullmatch=True)
cycle_ids = st.from_regex(r"[a-z]{4,5}-[0-9]{8}-[0-9]{1,5}", fullmatch=True)

_OFFSETS = st.sampled_from(
    [
        UTC,
        KST,
        dt.timezone(dt.timedelta(hours=9)),
        dt.timezone(dt.timedelta(hours=-5, minutes=-30)),
        dt.timezone(dt.timedelta(hours=14)),
    ]
)


def aware_datetimes(
    *,
    min_value: dt.datetime = dt.datetime(2000, 1, 1),
    max_value: dt.datetime = dt.datetime(2100, 1, 1),
) -> st.SearchStrategy[dt.datetime]:
    """Timezone-aware datetimes with microseconds and whole-minute UTC offsets."""
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=_OFFSETS)


def trading_days(
    *, min_value: dt.date = dt.date(2024, 1, 1), max_value: dt.date = dt.date(2027, 12, 31)
) -> st.SearchStrategy[dt.date]:
    """Weekdays (the XKRX holiday calendar is not the pipeline's business)."""
    return st.dates(min_value=min_value, max_value=max_value).filter(lambda d: d.weekday() < 5)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# ---------------------------------------------------------------- any records


def enrichments() -> st.SearchStrategy[Enrichment]:
    """Any ``Enrichment``."""
    return st.builds(
        Enrichment,
        session_phase=st.sampled_from(SessionPhase),
        staleness_ms=int64s,
        mid=_optional(json_floats),
        spread_bps=_optional(json_floats),
        return_since_prev=_optional(json_floats),
        prev_exchange_time=_optional(aware_datetimes()),
        tick_conforming=_optional(st.booleans()),
    )


def lineages(
    *, mode: Mode | None = None, source: Source | None = None
) -> st.SearchStrategy[Lineage]:
    """Any ``Lineage`` (optionally pinned to a mode/source)."""
    return st.builds(
        Lineage,
        raw_mode=st.just(mode) if mode is not None else st.sampled_from(Mode),
        raw_source=st.just(source) if source is not None else st.sampled_from(Source),
        raw_seqs=st.lists(non_negative_ints, max_size=4).map(tuple),
        record_index=st.integers(min_value=0, max_value=10_000),
    )


def _pin(value: Any, default: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.just(value) if value is not None else default


def snapshots(
    *,
    mode: Mode | None = None,
    source: Source | None = None,
    environment: Environment | None = None,
    trading_day: dt.date | None = None,
) -> st.SearchStrategy[ObservationSnapshot]:
    """Any ``ObservationSnapshot``: every field over its whole type (not necessarily valid)."""
    ints = _optional(int64s)
    int_tuples = st.lists(int64s, max_size=5).map(tuple)
    return st.builds(
        ObservationSnapshot,
        seq=non_negative_ints,
        symbol=json_text,
        market=st.sampled_from(Market),
        mode=_pin(mode, st.sampled_from(Mode)),
        source=_pin(source, st.sampled_from(Source)),
        environment=_pin(environment, st.sampled_from(Environment)),
        trading_day=_pin(trading_day, st.dates()),
        exchange_time=aware_datetimes(),
        receive_time=aware_datetimes(),
        cycle_id=json_text,
        last=ints,
        open=ints,
        high=ints,
        low=ints,
        prev_close=ints,
        upper_limit=ints,
        lower_limit=ints,
        change=ints,
        change_rate_pct=_optional(json_floats),
        volume=ints,
        turnover=ints,
        bid=ints,
        ask=ints,
        bid_size=ints,
        ask_size=ints,
        bid_prices=int_tuples,
        bid_sizes=int_tuples,
        ask_prices=int_tuples,
        ask_sizes=int_tuples,
        vi_active=_optional(st.booleans()),
        vi_ref_price=ints,
        halted=_optional(st.booleans()),
        hour_cls_code=_optional(json_text),
        status_code=_optional(json_text),
        enrichment=_optional(enrichments()),
        lineage=_optional(lineages()),
    )


def _raw_common(mode: Mode | None, source: Source | None) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "seq": non_negative_ints,
        "mode": _pin(mode, st.sampled_from(Mode)),
        "source": _pin(source, st.sampled_from(Source)),
        "environment": st.sampled_from(Environment),
        "trading_day": st.dates(),
        "receive_time": aware_datetimes(),
        "cycle_id": json_text,
    }


def raw_events(*, mode: Mode | None = None, source: Source | None = None) -> st.SearchStrategy[Any]:
    """Any member of the ``RawEvent`` tagged union."""
    common = _raw_common(mode, source)
    symbol_tuples = st.lists(symbols, max_size=5).map(tuple)
    return st.one_of(
        st.builds(
            RestResponse,
            **common,
            tr_id=json_text,
            path=json_text,
            params=st.dictionaries(json_text, json_text, max_size=4),
            status=st.integers(min_value=100, max_value=599),
            body=json_text,
            symbols=symbol_tuples,
            elapsed_ms=_optional(json_floats),
        ),
        st.builds(WsFrame, **common, text=json_text),
        st.builds(CycleStarted, **common, scheduled_time=aware_datetimes(), symbols=symbol_tuples),
        st.builds(
            ScalpStruck,
            **common,
            second=aware_datetimes(),
            symbols=symbol_tuples,
            fallback_symbols=symbol_tuples,
        ),
        st.builds(
            CollectionFailed,
            **common,
            cause=st.sampled_from(FailureCause),
            symbols=symbol_tuples,
            detail=json_text,
        ),
        st.builds(CycleEnded, **common),
    )


_SMALL = st.integers(min_value=0, max_value=10_000)


@st.composite
def ledger_entries(
    draw: st.DrawFn,
    *,
    mode: Mode | None = None,
    source: Source | None = None,
    trading_day: dt.date | None = None,
    conserving: bool = True,
) -> LedgerEntry:
    """A ``LedgerEntry``; with ``conserving`` (default) its counts satisfy conservation."""
    reason_keys = st.from_regex(r"[a-z_]{1,16}", fullmatch=True)
    rejected = draw(st.dictionaries(reason_keys, _SMALL, max_size=4))
    dropped = draw(st.dictionaries(reason_keys, _SMALL, max_size=4))
    failed = draw(st.dictionaries(st.sampled_from([c.value for c in FailureCause]), _SMALL))
    archived = draw(_SMALL)
    deduplicated = draw(_SMALL)
    settled = archived + deduplicated + sum(rejected.values()) + sum(dropped.values())
    expected = settled + sum(failed.values()) if conserving else draw(_SMALL)
    started = draw(aware_datetimes())
    return LedgerEntry(
        seq=draw(non_negative_ints),
        cycle_id=draw(cycle_ids),
        mode=draw(_pin(mode, st.sampled_from(Mode))),
        source=draw(_pin(source, st.sampled_from(Source))),
        environment=draw(st.sampled_from(Environment)),
        trading_day=draw(_pin(trading_day, trading_days())),
        started_at=started,
        ended_at=started
        + draw(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=1))),
        expected=expected,
        received=settled,
        archived=archived,
        deduplicated=deduplicated,
        rejected=rejected,
        dropped=dropped,
        failed=failed,
        lost_by_symbol=draw(st.dictionaries(symbols, st.integers(1, 100), max_size=4)),
        rest_fallbacks=draw(_SMALL),
    )


# ---------------------------------------------------------------- plausible snapshots

_REGULAR_OPEN = dt.time(9, 0)
_REGULAR_SECONDS = (15 * 3600 + 20 * 60) - 9 * 3600  # 09:00 to 15:20 KST


def _band(prev_close: int) -> tuple[int, int]:
    """(lower, upper) limit: ±30 % of the previous close, inside the band, on the grid."""
    return ceil_to_tick(-(-prev_close * 7 // 10)), floor_to_tick(prev_close * 13 // 10)


@st.composite
def valid_snapshots(
    draw: st.DrawFn,
    *,
    symbol: str | Sequence[str] | None = None,
    mode: Mode | None = None,
    source: Source | None = None,
    environment: Environment | None = None,
    trading_day: dt.date | None = None,
    seq: int | None = None,
    cycle_id: str | None = None,
    max_delay_ms: int = 5_000,
) -> ObservationSnapshot:
    """A plausible snapshot that passes validation and guard with the default config.

    ``symbol`` may be one symbol or a pool to draw from (a small pool makes repeated
    symbols, so folded state, duplicates and returns get exercised). No enrichment: the
    pipeline computes it.
    """
    if symbol is None:
        sym = draw(symbols)
    elif isinstance(symbol, str):
        sym = symbol
    else:
        sym = draw(st.sampled_from(list(symbol)))
    the_mode = draw(_pin(mode, st.sampled_from(Mode)))
    the_source = draw(_pin(source, st.sampled_from(Source)))
    day = draw(_pin(trading_day, trading_days()))
    prev_close = floor_to_tick(draw(st.integers(min_value=1_000, max_value=1_500_000)))
    lower, upper = _band(prev_close)

    def price() -> int:
        return max(lower, floor_to_tick(draw(st.integers(min_value=lower, max_value=upper))))

    low, a, b, high = sorted(price() for _ in range(4))
    last = draw(st.sampled_from([a, b]))
    opening = a if last == b else b
    ask = min(upper, last + tick_size(last))
    offset = draw(st.integers(min_value=0, max_value=_REGULAR_SECONDS * 1_000_000 - 1))
    exchange_time = dt.datetime.combine(day, _REGULAR_OPEN, tzinfo=KST) + dt.timedelta(
        microseconds=offset
    )
    delay = dt.timedelta(milliseconds=draw(st.integers(min_value=0, max_value=max_delay_ms)))
    receive_time = (exchange_time + delay).astimezone(UTC)
    volume = draw(st.integers(min_value=0, max_value=10**9))
    the_seq = seq if seq is not None else draw(st.integers(min_value=0, max_value=2**40))
    return ObservationSnapshot(
        seq=the_seq,
        symbol=sym,
        market=draw(st.sampled_from([Market.KOSPI, Market.KOSDAQ])),
        mode=the_mode,
        source=the_source,
        environment=draw(_pin(environment, st.sampled_from(Environment))),
        trading_day=day,
        exchange_time=exchange_time,
        receive_time=receive_time,
        cycle_id=cycle_id if cycle_id is not None else draw(cycle_ids),
        last=last,
        open=opening,
        high=high,
        low=low,
        prev_close=prev_close,
        upper_limit=upper,
        lower_limit=lower,
        change=last - prev_close,
        change_rate_pct=round((last - prev_close) * 100 / prev_close, 2),
        volume=volume,
        turnover=volume * last,
        bid=last,
        ask=ask,
        bid_size=draw(st.integers(min_value=0, max_value=10**7)),
        ask_size=draw(st.integers(min_value=0, max_value=10**7)),
        lineage=Lineage(raw_mode=the_mode, raw_source=the_source, raw_seqs=(the_seq,)),
    )


@st.composite
def partition_snapshots(
    draw: st.DrawFn,
    *,
    min_size: int = 0,
    max_size: int = 50,
    symbol_pool: Sequence[str] | None = None,
) -> list[ObservationSnapshot]:
    """Plausible snapshots of one archive partition (date, mode, source), ``seq`` 1, 2, 3, …"""
    day = draw(trading_days())
    mode = draw(st.sampled_from(Mode))
    source = draw(st.sampled_from(Source))
    environment = draw(st.sampled_from(Environment))
    pool = (
        list(symbol_pool)
        if symbol_pool is not None
        else draw(st.lists(symbols, min_size=1, max_size=5, unique=True))
    )
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    return [
        draw(
            valid_snapshots(
                symbol=pool,
                mode=mode,
                source=source,
                environment=environment,
                trading_day=day,
                seq=i + 1,
            )
        )
        for i in range(size)
    ]
