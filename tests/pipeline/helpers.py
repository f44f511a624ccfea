"""A known-good snapshot and a pipeline driver shared by the pipeline tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from pipeline import (
    KST,
    CycleStarted,
    Environment,
    Lineage,
    Market,
    Mode,
    ObservationSnapshot,
    Pipeline,
    PipelineConfig,
    Source,
)

DAY = dt.date(2026, 1, 5)  # a Monday
AT_10 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=KST)
CONFIG = PipelineConfig()


def kst(hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> dt.datetime:
    """An exchange time on ``DAY`` in KST."""
    return dt.datetime(2026, 1, 5, hour, minute, second, microsecond, tzinfo=KST)


def snap(**overrides: Any) -> ObservationSnapshot:
    """A valid, admissible swing snapshot of 005930 at 10:00 KST; fields overridden as given.

    ``exchange_time`` overrides move ``receive_time`` along (250 ms later, in UTC) unless
    ``receive_time`` is given too. Built without validation, like a converter builds it.
    """
    exchange_time = overrides.pop("exchange_time", AT_10)
    base = exchange_time
    if not isinstance(base, dt.datetime) or base.tzinfo is None:
        base = AT_10  # a deliberately bad exchange time: keep a sane receive time
    receive_time = overrides.pop(
        "receive_time", (base + dt.timedelta(milliseconds=250)).astimezone(dt.UTC)
    )
    fields: dict[str, Any] = {
        "seq": 1,
        "symbol": "005930",
        "market": Market.KOSPI,
        "mode": Mode.SWING,
        "source": Source.KIS_REST,
        "environment": Environment.SIM,
        "trading_day": DAY,
        "exchange_time": exchange_time,
        "receive_time": receive_time,
        "cycle_id": "swing-1",
        "last": 70_000,
        "open": 69_000,
        "high": 71_000,
        "low": 68_000,
        "prev_close": 69_500,
        "upper_limit": 90_300,
        "lower_limit": 48_700,
        "change": 500,
        "change_rate_pct": 0.72,
        "volume": 1_000,
        "turnover": 70_000_000,
        "bid": 69_900,
        "ask": 70_000,
        "bid_size": 10,
        "ask_size": 20,
        "lineage": Lineage(raw_mode=Mode.SWING, raw_source=Source.KIS_REST, raw_seqs=(1,)),
    }
    fields.update(overrides)
    return ObservationSnapshot(**fields)


def replace(s: ObservationSnapshot, **changes: Any) -> ObservationSnapshot:
    return msgspec.structs.replace(s, **changes)


def open_pipeline(
    config: PipelineConfig = CONFIG,
    *,
    cycle_id: str = "swing-1",
    mode: Mode = Mode.SWING,
    symbols: tuple[str, ...] = ("005930",),
) -> Pipeline:
    """A fresh pipeline with one open cycle."""
    pipeline = Pipeline(config)
    pipeline.begin_cycle(
        cycle_id,
        mode=mode,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10.astimezone(dt.UTC),
        symbols=symbols,
    )
    return pipeline


def swing_start(
    at: dt.datetime, cycle_id: str, *, received: dt.datetime | None = None, **fields: Any
) -> CycleStarted:
    """A simulated swing cycle start scheduled at ``at`` (its KST day is the trading day) and
    journaled then or at ``received``, with ``fields`` (seq, symbols, a config, a session)."""
    return CycleStarted(
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=at.astimezone(KST).date(),
        receive_time=received or at,
        cycle_id=cycle_id,
        scheduled_time=at,
        **fields,
    )
