"""Enrichment: derived fields from the snapshot and the fold of earlier admissions."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import (
    CONTENT_FIELDS,
    EnrichmentConfig,
    PipelineConfig,
    SessionPhase,
    enrich,
    fold,
    session_phase,
)
from tests.pipeline.helpers import CONFIG, kst, replace, snap


def enriched(s: object, state: object = None, config: PipelineConfig = CONFIG) -> object:
    out = enrich(s, state, config)  # type: ignore[arg-type]
    assert out.snapshot.enrichment is not None
    return out.snapshot.enrichment


def test_mid_is_the_average_of_bid_and_ask() -> None:
    """bid 69,900 / ask 70,000 → mid 69,950.0."""
    assert 69_950.0 == enriched(snap()).mid  # type: ignore[attr-defined]


def test_spread_bps_is_spread_over_mid() -> None:
    """(70,000 − 69,900) / 69,950 × 10⁴ as one correctly rounded division."""
    assert 100 * 20_000 / 139_900 == enriched(snap()).spread_bps  # type: ignore[attr-defined]


def test_spread_can_be_rounded_by_config() -> None:
    """With spread_bps_digits = 2 the spread is round(x, 2)."""
    config = PipelineConfig(enrichment=EnrichmentConfig(spread_bps_digits=2))
    assert 14.3 == enriched(snap(), config=config).spread_bps  # type: ignore[attr-defined]


def test_no_quote_gives_no_mid_and_no_spread() -> None:
    """Without an ask there is neither mid nor spread."""
    e = enriched(snap(ask=None))
    assert (None, None) == (e.mid, e.spread_bps)  # type: ignore[attr-defined]


def test_return_since_previous_admitted_snapshot() -> None:
    """70,000 after 50,000 → +0.4, and the previous exchange time is carried."""
    first = snap(last=50_000, low=50_000, exchange_time=kst(9, 59))
    state = fold(None, first, CONFIG)
    e = enriched(snap(), state)
    assert (0.4, kst(9, 59)) == (e.return_since_prev, e.prev_exchange_time)  # type: ignore[attr-defined]


def test_first_snapshot_has_no_return() -> None:
    """Before any admission of the symbol there is no return and no previous time."""
    e = enriched(snap())
    assert (None, None) == (e.return_since_prev, e.prev_exchange_time)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("at", "phase"),
    [
        (kst(8, 10), SessionPhase.CLOSED),
        (kst(8, 45), SessionPhase.PRE_OPEN_AUCTION),
        (kst(9, 0), SessionPhase.REGULAR),
        (kst(15, 19, 59, 999_999), SessionPhase.REGULAR),
        (kst(15, 20), SessionPhase.CLOSING_AUCTION),
        (kst(15, 30), SessionPhase.CLOSING_AUCTION),
        (kst(15, 35), SessionPhase.CLOSED),
        (kst(15, 45), SessionPhase.POST_CLOSE),
        (kst(16, 30), SessionPhase.AFTER_HOURS),
        (kst(18, 2), SessionPhase.CLOSED),
    ],
)
def test_session_phase_by_kst_time(at: dt.datetime, phase: SessionPhase) -> None:
    """The KRX phase table (shared/reference/kis-protocol.md §8)."""
    assert phase == session_phase(at, CONFIG)


def test_session_phase_of_a_utc_time_uses_its_kst_clock() -> None:
    """01:00 UTC is 10:00 KST: regular session."""
    assert SessionPhase.REGULAR == session_phase(dt.datetime(2026, 1, 5, 1, tzinfo=dt.UTC), CONFIG)


def test_session_phase_of_a_naive_time_is_an_error() -> None:
    """A time without a UTC offset is refused, not read in the host's zone."""
    with pytest.raises(ValueError, match="no UTC offset"):
        session_phase(dt.datetime(2026, 1, 5, 9, 5), CONFIG)


def test_enrichment_records_the_session_phase() -> None:
    """The snapshot's enrichment carries its phase."""
    assert SessionPhase.REGULAR == enriched(snap()).session_phase  # type: ignore[attr-defined]


def test_staleness_is_receive_minus_exchange_in_ms() -> None:
    """Received 250 ms after the exchange time → 250."""
    assert 250 == enriched(snap()).staleness_ms  # type: ignore[attr-defined]


def test_staleness_is_negative_when_the_exchange_clock_leads() -> None:
    """Received 1.5 s 'before' the exchange time → −1500."""
    s = snap(receive_time=(kst(10) - dt.timedelta(milliseconds=1_500)).astimezone(dt.UTC))
    assert -1_500 == enriched(s).staleness_ms  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changes", "conforming"),
    [
        ({}, True),
        ({"last": 70_050, "high": 71_000}, False),
        ({"bid": 69_950}, False),
        ({"last": None}, None),
    ],
)
def test_tick_conformity(changes: dict[str, object], conforming: bool | None) -> None:
    """last, bid and ask on the 100-won grid of the 50k–200k band, or None without last."""
    assert conforming == enriched(snap(**changes)).tick_conforming  # type: ignore[attr-defined]


def test_enrichment_changes_nothing_but_the_enrichment() -> None:
    """Every other field of the enriched snapshot equals the input's."""
    s = snap()
    out = enrich(s, None, CONFIG).snapshot
    assert replace(out, enrichment=None) == s


def test_content_fields_exclude_bookkeeping() -> None:
    """Dedup compares market content only, never receive time, seq, cycle or lineage."""
    excluded = {"receive_time", "seq", "cycle_id", "lineage", "enrichment", "schema_version"}
    assert set() == excluded & set(CONTENT_FIELDS)
