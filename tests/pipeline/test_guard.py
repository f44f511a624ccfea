"""Guard: deduplication (not loss) and each drop reason, with config per mode."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import (
    Admitted,
    Deduplicated,
    Dropped,
    DropReason,
    GuardConfig,
    Mode,
    ModeGuardConfig,
    PipelineConfig,
    SymbolState,
    fold,
    guard,
)
from tests.pipeline.helpers import CONFIG, kst, replace, snap


def state_after(*admitted: object, config: PipelineConfig = CONFIG) -> SymbolState | None:
    state = None
    for s in admitted:
        state = fold(state, s, config)  # type: ignore[arg-type]
    return state


def drop_reason(outcome: object) -> tuple[object, object]:
    assert isinstance(outcome, Dropped), outcome
    return outcome.reason, outcome.path


def test_first_observation_is_admitted() -> None:
    """With no state, a valid snapshot is admitted as the same object."""
    s = snap()
    outcome = guard(s, None, CONFIG)
    assert (Admitted, True) == (type(outcome), outcome.snapshot is s)


def test_same_market_content_is_deduplicated() -> None:
    """Only receive time, seq, cycle and lineage differ → Deduplicated, pointing at the first."""
    first = snap()
    again = replace(
        first,
        seq=2,
        cycle_id="swing-2",
        receive_time=first.receive_time + dt.timedelta(seconds=1),
        lineage=None,
    )
    outcome = guard(again, state_after(first), CONFIG)
    assert (Deduplicated, True) == (type(outcome), outcome.duplicate_of is first)  # type: ignore[union-attr]


def test_same_content_from_another_source_is_deduplicated() -> None:
    """A REST fallback repeating the socket's last observation is the same observation."""
    from pipeline import Source

    first = snap(source=Source.KIS_WS)
    outcome = guard(replace(first, source=Source.KIS_REST), state_after(first), CONFIG)
    assert Deduplicated is type(outcome)


@pytest.mark.parametrize(
    "changes",
    [
        {"volume": 1_001},
        {"bid_size": 11},
        {"exchange_time": kst(10, 0, 1)},
        {"ask_prices": (70_000,), "ask_sizes": (20,)},
        {"halted": True},
    ],
)
def test_any_market_change_is_not_a_duplicate(changes: dict[str, object]) -> None:
    """A change in any market field (volume, book, time, status) admits the snapshot."""
    first = snap()
    assert Admitted is type(guard(replace(first, **changes), state_after(first), CONFIG))


def test_duplicate_is_found_before_staleness() -> None:
    """A quiet symbol re-observed long after its last trade is deduplicated, not stale."""
    first = snap()
    late = replace(first, receive_time=first.receive_time + dt.timedelta(hours=1))
    assert Deduplicated is type(guard(late, state_after(first), CONFIG))


def test_stale_scalp_observation_is_dropped() -> None:
    """Scalp allows 60 s between exchange and receive time by default."""
    s = snap(mode=Mode.SCALP, receive_time=(kst(10, 1, 0, 1)).astimezone(dt.UTC))
    assert (DropReason.STALE, "$.exchange_time") == drop_reason(guard(s, None, CONFIG))


def test_staleness_limit_is_per_mode() -> None:
    """The same 61 s lag is fine for swing (300 s default) and stale for scalp."""
    receive = kst(10, 1, 1).astimezone(dt.UTC)
    swing = guard(snap(mode=Mode.SWING, receive_time=receive), None, CONFIG)
    scalp = guard(snap(mode=Mode.SCALP, receive_time=receive), None, CONFIG)
    assert (Admitted, Dropped) == (type(swing), type(scalp))


def test_exchange_time_far_ahead_of_receive_time_is_clock_skew() -> None:
    """An exchange time 6 s after the receive time → CLOCK_SKEW (limit 5 s)."""
    s = snap(receive_time=kst(9, 59, 54).astimezone(dt.UTC))
    assert (DropReason.CLOCK_SKEW, "$.exchange_time") == drop_reason(guard(s, None, CONFIG))


@pytest.mark.parametrize(
    ("lag_us", "detail"),
    [
        (300_000_400, "received 300000.4 ms after the exchange time, limit 300000 ms"),
        (300_000_001, "received 300000.001 ms after the exchange time, limit 300000 ms"),
        (-5_000_400, "exchange time 5000.4 ms after the receive time, limit 5000 ms"),
    ],
)
def test_lag_just_over_the_limit_is_told_to_the_microsecond(lag_us: int, detail: str) -> None:
    """The message never says the lag equals the limit it broke (no flooring to whole ms)."""
    s = snap(receive_time=(kst(10) + dt.timedelta(microseconds=lag_us)).astimezone(dt.UTC))
    outcome = guard(s, None, CONFIG)
    assert f"{detail} - at `$.exchange_time`" == getattr(outcome, "detail", None)


@pytest.mark.parametrize("at", [kst(8, 29, 59), kst(15, 31), kst(15, 39, 59)])
def test_observation_in_a_closed_phase_is_out_of_session(at: dt.datetime) -> None:
    """08:00–08:30 and 15:31–15:40 KST are inside the day but outside every session."""
    outcome = guard(snap(exchange_time=at), None, CONFIG)
    assert (DropReason.OUT_OF_SESSION, "$.exchange_time") == drop_reason(outcome)


@pytest.mark.parametrize("at", [kst(8, 30), kst(15, 30, 59), kst(15, 40), kst(18, 0, 59)])
def test_session_edges_are_in_session(at: dt.datetime) -> None:
    """Opening call start, the closing print's grace minute, post-close, the 18:00 match."""
    assert Admitted is type(guard(snap(exchange_time=at), None, CONFIG))


def test_closed_phases_are_configurable() -> None:
    """With after-hours declared closed, a 17:00 observation is out of session."""
    from pipeline import SessionPhase

    config = PipelineConfig(
        guard=GuardConfig(closed_phases=frozenset({SessionPhase.CLOSED, SessionPhase.AFTER_HOURS}))
    )
    outcome = guard(snap(exchange_time=kst(17)), None, config)
    assert (DropReason.OUT_OF_SESSION, "$.exchange_time") == drop_reason(outcome)


def test_jump_beyond_the_band_from_prev_close_is_dropped() -> None:
    """last 31 % above prev_close (limits absent) → JUMP at $.last."""
    s = snap(prev_close=50_000, last=65_500, high=65_500, upper_limit=None, lower_limit=None)
    assert (DropReason.JUMP, "$.last") == drop_reason(guard(s, None, CONFIG))


def test_jump_of_exactly_the_band_is_admitted() -> None:
    """+30 % exactly (the KRX upper limit) is not beyond the band."""
    s = snap(prev_close=50_000, last=65_000, high=65_000, upper_limit=65_000, lower_limit=35_000)
    assert Admitted is type(guard(s, None, CONFIG))


@pytest.mark.parametrize(
    ("prev_close", "lower", "last", "upper"),
    [
        (10_000, 6_000, 25_000, 40_000),  # listing day: 60-400 % of the offer price
        (10_000, 3_500, 5_100, 6_500),  # ex-date of a 1:1 bonus issue: base 5,000
    ],
)
def test_print_inside_the_exchange_band_is_admitted_however_far_from_prev_close(
    prev_close: int, lower: int, last: int, upper: int
) -> None:
    """With both daily limits known, the exchange's band decides, not ±30 % of prev_close."""
    s = snap(
        prev_close=prev_close,
        last=last,
        open=last,
        high=last,
        low=last,
        upper_limit=upper,
        lower_limit=lower,
        bid=None,
        ask=None,
    )
    assert Admitted is type(guard(s, None, CONFIG))


def test_jump_applies_when_only_one_limit_is_known() -> None:
    """One limit is not the band: last 31 % above prev_close is still a JUMP."""
    s = snap(prev_close=50_000, last=65_500, high=65_500, upper_limit=None, lower_limit=35_000)
    assert (DropReason.JUMP, "$.last") == drop_reason(guard(s, None, CONFIG))


def test_jump_falls_back_to_the_previous_admitted_last() -> None:
    """Without prev_close the band is around the previous admitted last of the symbol."""
    first = snap(prev_close=None, upper_limit=None, lower_limit=None)
    second = replace(first, last=48_000, low=48_000, volume=2_000, exchange_time=kst(10, 0, 1))
    assert (DropReason.JUMP, "$.last") == drop_reason(guard(second, state_after(first), CONFIG))


def test_burst_cap_drops_the_extra_admission_in_the_window() -> None:
    """With burst_max=2 per 1 s, a third snapshot within a second is dropped."""
    config = PipelineConfig(
        guard=GuardConfig(
            swing=ModeGuardConfig(max_staleness_ms=300_000, burst_max=2, burst_window_ms=1_000)
        )
    )
    a = snap(volume=1)
    b = snap(volume=2, receive_time=a.receive_time + dt.timedelta(milliseconds=300))
    c = snap(volume=3, receive_time=a.receive_time + dt.timedelta(milliseconds=600))
    state = state_after(a, b, config=config)
    assert (DropReason.BURST, "$.receive_time") == drop_reason(guard(c, state, config))


def test_burst_window_rolls() -> None:
    """Once the oldest admission is a window old, the next one is admitted again."""
    config = PipelineConfig(
        guard=GuardConfig(
            swing=ModeGuardConfig(max_staleness_ms=300_000, burst_max=2, burst_window_ms=1_000)
        )
    )
    a = snap(volume=1)
    b = snap(volume=2, receive_time=a.receive_time + dt.timedelta(milliseconds=300))
    c = snap(volume=3, receive_time=a.receive_time + dt.timedelta(milliseconds=1_000))
    assert Admitted is type(guard(c, state_after(a, b, config=config), config))


def test_guard_reads_nothing_but_its_arguments() -> None:
    """Called twice with the same arguments, guard gives equal outcomes."""
    first = snap()
    state = state_after(first)
    s = replace(first, volume=5_000)
    assert guard(s, state, CONFIG) == guard(s, state, CONFIG)
