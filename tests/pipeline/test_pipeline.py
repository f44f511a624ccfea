"""The runner: stages in order, folded state, books per cycle, interleaved cycles."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import msgspec
import pytest

from pipeline import (
    RAW_DECODER,
    Admitted,
    CollectionFailed,
    CycleEnded,
    CycleStarted,
    Deduplicated,
    Dropped,
    DropReason,
    DuplicateCycleError,
    Environment,
    FailureCause,
    Mode,
    ObservationSnapshot,
    PhaseStart,
    Pipeline,
    PipelineConfig,
    PipelineConfigError,
    Rejected,
    RejectReason,
    ScalpStruck,
    SessionPhase,
    Source,
    UnknownCycleError,
    ValidationConfig,
    config_mapping,
)
from tests.pipeline.helpers import AT_10, DAY, kst, open_pipeline, snap, swing_start

END = AT_10 + dt.timedelta(minutes=1)


def test_admitted_snapshot_comes_out_enriched() -> None:
    """process() returns the snapshot with its enrichment filled in."""
    outcome = open_pipeline().process(snap())
    assert (Admitted, 250) == (type(outcome), outcome.snapshot.enrichment.staleness_ms)  # type: ignore[union-attr]


def test_snapshot_of_an_unknown_cycle_raises() -> None:
    """A snapshot stamped with a cycle that is not open is the caller's mistake."""
    with pytest.raises(UnknownCycleError, match="no open cycle 'swing-9'"):
        open_pipeline().process(snap(cycle_id="swing-9"))


def test_a_cycle_id_cannot_be_opened_twice() -> None:
    """begin_cycle with an open id raises DuplicateCycleError."""
    pipeline = open_pipeline()
    with pytest.raises(DuplicateCycleError):
        pipeline.begin_cycle(
            "swing-1",
            mode=Mode.SWING,
            source=Source.KIS_REST,
            environment=Environment.SIM,
            trading_day=DAY,
            started_at=AT_10,
        )


def test_ended_cycle_is_closed() -> None:
    """After end_cycle the id is no longer open."""
    pipeline = open_pipeline()
    pipeline.end_cycle("swing-1", END)
    assert () == pipeline.open_cycles


def test_rejected_snapshot_does_not_move_the_state() -> None:
    """Only admitted snapshots are folded: a rejected one leaves the state as it was."""
    pipeline = open_pipeline()
    pipeline.process(snap())
    before = pipeline.state("005930", Mode.SWING)
    pipeline.process(snap(last=0, volume=9_999))
    assert before is pipeline.state("005930", Mode.SWING)


def test_second_identical_observation_is_deduplicated() -> None:
    """Same market content twice in a row → the second is Deduplicated."""
    pipeline = open_pipeline()
    pipeline.process(snap())
    assert Deduplicated is type(pipeline.process(snap(seq=2)))


def test_return_uses_the_previous_admitted_snapshot_of_the_same_mode() -> None:
    """A scalp admission does not become the swing previous of the same symbol."""
    pipeline = open_pipeline()
    pipeline.begin_cycle(
        "scalp-1",
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10,
        symbols=["005930"],
    )
    pipeline.process(snap(last=69_000, volume=1))
    pipeline.process(snap(mode=Mode.SCALP, cycle_id="scalp-1", last=70_500, volume=2))
    outcome = pipeline.process(snap(last=69_690, volume=3, exchange_time=kst(10, 0, 5), seq=3))
    assert 0.01 == outcome.snapshot.enrichment.return_since_prev  # type: ignore[union-attr]


def test_interleaved_cycles_keep_separate_books() -> None:
    """Swing and scalp cycles open at once each count only their own observations."""
    pipeline = open_pipeline(symbols=("005930", "000660"))
    pipeline.begin_cycle(
        "scalp-1",
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10,
        symbols=["005930"],
    )
    pipeline.process(snap(symbol="005930"))
    pipeline.process(snap(mode=Mode.SCALP, cycle_id="scalp-1"))
    pipeline.process(snap(symbol="000660", last=0))
    scalp = pipeline.end_cycle("scalp-1", END)
    swing = pipeline.end_cycle("swing-1", END)
    assert ((1, 1, {}), (2, 1, {"non_positive_price": 1})) == (
        (scalp.expected, scalp.archived, scalp.rejected),
        (swing.expected, swing.archived, swing.rejected),
    )


def test_stale_scalp_observation_is_dropped_and_booked() -> None:
    """A drop shows in the outcome and in the cycle's dropped counts."""
    pipeline = open_pipeline(cycle_id="scalp-1", mode=Mode.SCALP)
    late = kst(10, 2).astimezone(dt.UTC)
    outcome = pipeline.process(snap(mode=Mode.SCALP, cycle_id="scalp-1", receive_time=late))
    entry = pipeline.end_cycle("scalp-1", END)
    assert (DropReason.STALE, {"stale": 1}) == (outcome.reason, entry.dropped)  # type: ignore[union-attr]


def test_fail_books_against_the_cycle() -> None:
    """Pipeline.fail reaches the open cycle's ledger."""
    pipeline = open_pipeline(symbols=("005930", "000660"))
    pipeline.fail("swing-1", FailureCause.RATE_LIMIT, ["000660"])
    pipeline.process(snap())
    assert {"rate_limit": 1} == pipeline.end_cycle("swing-1", END).failed


def test_bad_content_never_raises() -> None:
    """A snapshot with a wrong-typed symbol is rejected and booked under '<invalid>'."""
    pipeline = open_pipeline()
    outcome = pipeline.process(snap(symbol=["005930"]))
    entry = pipeline.end_cycle("swing-1", END)
    assert (Rejected, {"005930": 1, "<invalid>": 1}) == (type(outcome), entry.lost_by_symbol)


EXTREME_TIMES = [
    dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC),  # KST: year 10000
    dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),  # KST: year 0
    dt.datetime.max.replace(tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime.min.replace(tzinfo=zoneinfo.ZoneInfo("Asia/Seoul")),
]


@pytest.mark.parametrize("at", EXTREME_TIMES, ids=lambda t: f"{t.isoformat()} {t.tzinfo}")
def test_an_exchange_time_at_the_edge_of_datetime_is_a_rejection(at: dt.datetime) -> None:
    """An exchange time whose KST date datetime cannot hold is outside the trading day."""
    outcome = open_pipeline().process(msgspec.structs.replace(snap(), exchange_time=at))
    assert (Rejected, RejectReason.OUTSIDE_TRADING_DAY, "$.exchange_time") == (
        type(outcome),
        getattr(outcome, "reason", None),
        getattr(outcome, "path", None),
    )


def test_a_kst_date_beyond_year_9999_is_named_in_the_rejection() -> None:
    """The detail says where the exchange time falls, without building the date."""
    at = dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)
    outcome = open_pipeline().process(msgspec.structs.replace(snap(), exchange_time=at))
    assert (
        "KST date after 9999-12-31 is not the trading day 2026-01-05 - at `$.exchange_time`"
        == getattr(outcome, "detail", None)
    )


@pytest.mark.parametrize("at", EXTREME_TIMES, ids=lambda t: f"{t.isoformat()} {t.tzinfo}")
def test_a_receive_time_at_the_edge_of_datetime_is_dropped(at: dt.datetime) -> None:
    """A receive time years from the exchange time is stale or clock skew, not a crash."""
    outcome = open_pipeline().process(msgspec.structs.replace(snap(), receive_time=at))
    assert Dropped is type(outcome)


def test_scheduler_events_drive_the_books() -> None:
    """CycleStarted, ScalpStruck, CollectionFailed and CycleEnded fold into one entry."""
    common = {
        "mode": Mode.SCALP,
        "source": Source.KIS_WS,
        "environment": Environment.SIM,
        "trading_day": DAY,
        "receive_time": END,
        "cycle_id": "scalp-7",
    }
    pipeline = Pipeline()
    pipeline.apply(CycleStarted(**common, scheduled_time=AT_10))  # type: ignore[arg-type]
    pipeline.apply(
        ScalpStruck(
            **common, second=AT_10, symbols=("005930", "000660"), fallback_symbols=("000660",)
        )  # type: ignore[arg-type]
    )
    pipeline.process(snap(mode=Mode.SCALP, cycle_id="scalp-7"))
    pipeline.apply(
        CollectionFailed(**common, cause=FailureCause.TIMEOUT, symbols=("000660",))  # type: ignore[arg-type]
    )
    entry = pipeline.apply(CycleEnded(**common, seq=42))  # type: ignore[arg-type]
    assert entry is not None
    assert (42, 2, 1, {"timeout": 1}, 1, AT_10, END) == (
        entry.seq,
        entry.expected,
        entry.archived,
        entry.failed,
        entry.rest_fallbacks,
        entry.started_at,
        entry.ended_at,
    )


def test_dropped_outcome_is_not_enriched() -> None:
    """Only admitted snapshots get an enrichment; a drop carries the input as it came."""
    pipeline = open_pipeline(cycle_id="scalp-1", mode=Mode.SCALP)
    late = kst(10, 2).astimezone(dt.UTC)
    outcome = pipeline.process(snap(mode=Mode.SCALP, cycle_id="scalp-1", receive_time=late))
    assert (Dropped, None) == (type(outcome), outcome.snapshot.enrichment)


def test_process_refuses_what_is_not_a_snapshot() -> None:
    """A raw dict handed to process() is a caller's mistake with a clear message."""
    with pytest.raises(TypeError, match="takes an ObservationSnapshot, got dict"):
        open_pipeline().process({"symbol": "005930"})  # type: ignore[arg-type]


CSAT = dt.date(2026, 1, 5)  # DAY, as if it were a CSAT day (open 10:00, close 16:30)


def late_pipeline(**session: dt.datetime | None) -> Pipeline:
    pipeline = Pipeline()
    pipeline.apply(
        CycleStarted(
            mode=Mode.SWING,
            source=Source.KIS_REST,
            environment=Environment.SIM,
            trading_day=CSAT,
            receive_time=kst(15, 35),
            cycle_id="swing-1",
            scheduled_time=kst(15, 35),
            symbols=("005930",),
            **session,  # type: ignore[arg-type]
        )
    )
    return pipeline


def begin_swing(pipeline: Pipeline, cycle_id: str, opens: dt.datetime, closes: dt.datetime) -> None:
    """Open a swing cycle on the late day that journals the session ``opens``-``closes``."""
    pipeline.begin_cycle(
        cycle_id,
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=CSAT,
        started_at=kst(15, 35),
        session_open=opens,
        session_close=closes,
    )


def test_regular_trading_on_a_late_day_is_admitted_when_the_cycle_gives_its_session() -> None:
    """15:35 on a 10:00-16:30 day: admitted as regular, not dropped as out of session."""
    late = late_pipeline(session_open=kst(10), session_close=kst(16, 30))
    outcome = late.process(snap(exchange_time=kst(15, 35)))
    assert (Admitted, "regular") == (
        type(outcome),
        outcome.snapshot.enrichment.session_phase.value,  # type: ignore[union-attr]
    )


def test_without_the_session_the_same_print_is_out_of_session() -> None:
    """The usual table is closed from 15:31 to 15:40: the same 15:35 print is dropped."""
    outcome = late_pipeline().process(snap(exchange_time=kst(15, 35)))
    assert (Dropped, DropReason.OUT_OF_SESSION) == (type(outcome), outcome.reason)  # type: ignore[union-attr]


def test_a_late_day_shifts_only_its_own_snapshots() -> None:
    """The shifted phases apply to the late day; another trading day keeps the usual ones."""
    late = late_pipeline(session_open=kst(10), session_close=kst(16, 30))
    other = DAY + dt.timedelta(days=1)
    assert late.config_for(CSAT).regular_close == dt.time(16, 30)
    assert late.config_for(other) is late.config


def test_a_session_that_cannot_place_the_phases_is_a_clear_error() -> None:
    """A journaled session closing before it opens names the cycle; nothing is opened."""
    pipeline = Pipeline()
    with pytest.raises(PipelineConfigError, match="cycle 'swing-1': session"):
        begin_swing(pipeline, "swing-1", kst(15, 30), kst(9, 0))
    assert () == pipeline.open_cycles


def test_a_naive_session_is_a_clear_error_whatever_the_host_zone() -> None:
    """A session time without a UTC offset names itself; it is not read in the host's zone."""
    pipeline = Pipeline()
    with pytest.raises(PipelineConfigError, match="session_open 2026-11-19T10:00:00 has no UTC"):
        begin_swing(pipeline, "swing-1", dt.datetime(2026, 11, 19, 10), kst(16, 30))
    assert () == pipeline.open_cycles


NAIVE_IN_THE_JOURNAL = {
    "session_open": b'"session_open":"2026-11-19T10:00:00"',
    "session_close": b'"session_close":"2026-11-19T16:30:00"',
    "scheduled_time": b'"scheduled_time":"2026-11-19T10:00:00"',
    "receive_time": b'"receive_time":"2026-11-19T01:00:00"',
}


@pytest.mark.parametrize("field", sorted(NAIVE_IN_THE_JOURNAL))
def test_a_journaled_time_without_a_utc_offset_does_not_decode(field: str) -> None:
    """A raw event's naive time is a decode error at its path, not a host-zone guess."""
    aware = {
        "session_open": b'"session_open":"2026-11-19T10:00:00+09:00"',
        "session_close": b'"session_close":"2026-11-19T16:30:00+09:00"',
        "scheduled_time": b'"scheduled_time":"2026-11-19T10:00:00+09:00"',
        "receive_time": b'"receive_time":"2026-11-19T01:00:00Z"',
    }
    aware[field] = NAIVE_IN_THE_JOURNAL[field]
    line = (
        b'{"kind":"cycle_started","mode":"swing","source":"kis-rest","environment":"sim",'
        b'"trading_day":"2026-11-19","cycle_id":"d",' + b",".join(aware.values()) + b"}"
    )
    with pytest.raises(msgspec.ValidationError, match=f"timezone component - at `\\$.{field}`"):
        RAW_DECODER.decode(line)


def test_each_cycle_of_a_late_day_keeps_the_same_shifted_config() -> None:
    """A day's cycles all journal its session: the shifted config is built once, not per cycle."""
    late = late_pipeline(session_open=kst(10), session_close=kst(16, 30))
    first = late.config_for(CSAT)
    begin_swing(late, "swing-2", kst(10), kst(16, 30))
    assert first is late.config_for(CSAT)


# ---------------------------------------------------------------- journaled stage config

ETN_CONFIG = PipelineConfig(validation=ValidationConfig(symbol_pattern=r"[0-9]{6}|Q[0-9]{6}"))


def started(cycle_id: str, **fields: object) -> CycleStarted:
    """A swing cycle start on ``DAY``, with ``fields`` (a journaled config, a session)."""
    return swing_start(AT_10, cycle_id, symbols=("Q500001",), **fields)


def etn_outcome(pipeline: Pipeline, cycle_id: str) -> type:
    return type(pipeline.process(snap(symbol="Q500001", cycle_id=cycle_id)))


def test_a_journaled_config_runs_the_stages_from_its_cycle_on() -> None:
    """The built-in pattern rejects an ETN code; a cycle journaling a config that admits
    ETNs switches the stages to it, and the next cycle without one keeps it."""
    pipeline = Pipeline()
    pipeline.apply(started("swing-1"))
    before = etn_outcome(pipeline, "swing-1")
    pipeline.apply(started("swing-2", pipeline_config=config_mapping(ETN_CONFIG)))
    pipeline.apply(started("swing-3"))
    after = (etn_outcome(pipeline, "swing-2"), etn_outcome(pipeline, "swing-3"))
    assert (Rejected, (Admitted, Deduplicated), ETN_CONFIG) == (before, after, pipeline.config)


def test_a_pinned_pipeline_keeps_its_config_whatever_the_journal_names() -> None:
    """``pinned`` (rederive --config) ignores the journaled config: the ETN stays rejected."""
    pipeline = Pipeline(pinned=True)
    pipeline.apply(started("swing-1", pipeline_config=config_mapping(ETN_CONFIG)))
    assert (Rejected, PipelineConfig()) == (etn_outcome(pipeline, "swing-1"), pipeline.config)


def test_a_journaled_config_that_does_not_decode_names_the_cycle() -> None:
    """A journaled mapping with an unknown setting is a clear error; nothing is opened."""
    bad = {**config_mapping(PipelineConfig()), "guard": {"max_jump_bps": "wide"}}
    pipeline = Pipeline()
    with pytest.raises(PipelineConfigError, match=r"cycle 'swing-1': journaled pipeline config"):
        pipeline.apply(started("swing-1", pipeline_config=bad))
    assert () == pipeline.open_cycles


def test_a_new_journaled_config_keeps_a_late_days_session_shift() -> None:
    """Switching config on a 10:00-16:30 day shifts the new config's phases alike."""
    late = late_pipeline(session_open=kst(10), session_close=kst(16, 30))
    late.apply(
        msgspec.structs.replace(
            started("swing-2", pipeline_config=config_mapping(ETN_CONFIG)), trading_day=CSAT
        )
    )
    shifted = late.config_for(CSAT)
    expected = (r"[0-9]{6}|Q[0-9]{6}", dt.time(16, 30))
    assert expected == (shifted.validation.symbol_pattern, shifted.regular_close)


def test_a_journaled_config_that_cannot_shift_a_late_day_changes_nothing() -> None:
    """A new config whose phases cannot move with the day's late close is a clear error
    naming the cycle, and the pipeline keeps the config it had."""
    late = late_pipeline(session_open=kst(10), session_close=kst(16, 30))
    before = (late.config, late.config_for(CSAT))
    night = PipelineConfig(
        phases=(PhaseStart(dt.time(9, 0), SessionPhase.REGULAR),),
        validation=ValidationConfig(day_end=dt.time(23, 30)),
    )
    with pytest.raises(PipelineConfigError, match="cycle 'swing-2': its config cannot place"):
        late.apply(started("swing-2", pipeline_config=config_mapping(night)))
    assert before == (late.config, late.config_for(CSAT))


def _swing_band(pipeline: Pipeline, lower: int, upper: int, last: int) -> None:
    """Open a scalp cycle and admit a swing snapshot of 005930 (prev_close 10,000) whose
    daily limits are ``lower`` and ``upper``."""
    pipeline.begin_cycle(
        "scalp-1",
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10.astimezone(dt.UTC),
        symbols=("005930",),
    )
    band = {"prev_close": 10_000, "lower_limit": lower, "upper_limit": upper}
    price = {"last": last, "open": last, "high": last, "low": last, "change": last - 10_000}
    quote = {"bid": None, "ask": None, "change_rate_pct": None, "turnover": None}
    assert Admitted is type(pipeline.process(snap(**band, **price, **quote)))


def _socket_trade(last: int) -> ObservationSnapshot:
    """A socket trade of 005930 (no daily limits), prev_close 10,000 as the socket derives it."""
    return snap(
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        cycle_id="scalp-1",
        exchange_time=kst(10, 0, 1),
        prev_close=10_000,
        last=last,
        open=last,
        high=last,
        low=last,
        change=last - 10_000,
        change_rate_pct=None,
        upper_limit=None,
        lower_limit=None,
        bid=None,
        ask=None,
        turnover=None,
    )


def test_a_socket_trade_inside_the_band_a_swing_snapshot_gave_is_admitted() -> None:
    """On a listing day (offer 10,000, band 6,000-40,000) a socket trade at 2.6x its base is
    inside the band the symbol's swing snapshot carried: admitted, not a ±30 % jump."""
    pipeline = open_pipeline()
    _swing_band(pipeline, 6_000, 40_000, last=25_000)
    assert Admitted is type(pipeline.process(_socket_trade(26_000)))


def test_a_socket_trade_outside_the_known_band_is_a_jump_however_near_prev_close() -> None:
    """Once a band is known for the day, it decides: 12,000 is within 30 % of 10,000 but
    beyond the 11,000 upper limit the swing snapshot carried, so it cannot be a real print."""
    pipeline = open_pipeline()
    _swing_band(pipeline, 9_000, 11_000, last=10_500)
    outcome = pipeline.process(_socket_trade(12_000))
    assert (Dropped, DropReason.JUMP) == (type(outcome), getattr(outcome, "reason", None))
