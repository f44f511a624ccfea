"""The loss ledger: conservation, unexpected observations, failures, loss rate."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import (
    Admitted,
    ConservationError,
    CycleLedger,
    Deduplicated,
    Dropped,
    DropReason,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    Rejected,
    RejectReason,
    Source,
    loss_count,
    loss_rate,
)
from tests.pipeline.helpers import AT_10, DAY, snap

END = AT_10 + dt.timedelta(seconds=30)


def ledger(*symbols: str) -> CycleLedger:
    return CycleLedger(
        "swing-1",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10,
        symbols=symbols,
    )


def admitted(symbol: str = "005930") -> Admitted:
    return Admitted(snap(symbol=symbol))


def rejected(symbol: str = "005930") -> Rejected:
    return Rejected(snap(symbol=symbol), RejectReason.NON_POSITIVE_PRICE, "$.last", "0 <= 0")


def dropped(symbol: str = "005930") -> Dropped:
    return Dropped(snap(symbol=symbol), DropReason.STALE, "$.exchange_time", "late")


def test_every_bucket_is_counted() -> None:
    """Admitted, deduplicated, rejected, dropped and failed each land in their bucket."""
    books = ledger("A00001", "A00002", "A00003", "A00004", "A00005")
    books.record(admitted("A00001"))
    books.record(Deduplicated(snap(symbol="A00002"), snap(symbol="A00002")))
    books.record(rejected("A00003"))
    books.record(dropped("A00004"))
    books.fail(FailureCause.TIMEOUT, ["A00005"])
    entry = books.close(END)
    assert (5, 4, 1, 1, {"non_positive_price": 1}, {"stale": 1}, {"timeout": 1}) == (
        entry.expected,
        entry.received,
        entry.archived,
        entry.deduplicated,
        entry.rejected,
        entry.dropped,
        entry.failed,
    )


def test_lost_by_symbol_lists_only_symbols_with_loss() -> None:
    """Rejected, dropped and failed count against their symbol; admitted and dedup do not."""
    books = ledger("A00001", "A00002", "A00003", "A00004")
    books.record(admitted("A00001"))
    books.record(Deduplicated(snap(symbol="A00002"), snap(symbol="A00002")))
    books.record(rejected("A00003"))
    books.fail(FailureCause.DISCONNECT, ["A00004"])
    assert {"A00003": 1, "A00004": 1} == books.close(END).lost_by_symbol


def test_outstanding_observations_fail_as_missed_at_close() -> None:
    """What was expected and neither received nor failed is booked, not forgotten."""
    books = ledger("A00001", "A00002")
    books.record(admitted("A00001"))
    entry = books.close(END)
    assert ({"missed": 1}, {"A00002": 1}) == (entry.failed, entry.lost_by_symbol)


def test_outstanding_cause_is_chosen_by_the_caller() -> None:
    """A cycle cut by shutdown books its remainder as cancelled."""
    entry = ledger("A00001").close(END, outstanding_cause=FailureCause.CANCELLED)
    assert {"cancelled": 1} == entry.failed


def test_an_unexpected_symbol_is_added_to_expected_and_counted() -> None:
    """An observation the cycle did not expect keeps conservation and shows as unexpected."""
    books = ledger("A00001")
    books.record(admitted("A00001"))
    books.record(admitted("A00009"))
    entry = books.close(END)
    assert (2, 2, 1, 0.0) == (entry.expected, entry.archived, entry.unexpected, loss_rate(entry))


def test_a_repeat_beyond_the_expected_count_is_unexpected() -> None:
    """Two observations of a symbol expected once: the second is unexpected."""
    books = ledger("A00001")
    books.record(admitted("A00001"))
    books.record(Deduplicated(snap(symbol="A00001"), snap(symbol="A00001")))
    assert (2, 1) == (books.close(END).expected, books.unexpected)


def test_failing_more_than_outstanding_raises() -> None:
    """Failing an observation already received is a caller's mistake: ConservationError."""
    books = ledger("A00001")
    books.record(admitted("A00001"))
    with pytest.raises(ConservationError, match="only 0 outstanding"):
        books.fail(FailureCause.TIMEOUT, ["A00001"])


def test_a_refused_failure_books_nothing() -> None:
    """fail() is all or nothing: one bad symbol leaves the others outstanding."""
    books = ledger("A00001", "A00002")
    with pytest.raises(ConservationError):
        books.fail(FailureCause.TIMEOUT, ["A00001", "A00003"])
    assert (2, {}) == (books.outstanding(), books.failed)


def test_a_symbol_expected_twice_can_fail_twice() -> None:
    """Expectations count: two strikes of one symbol, both lost to a disconnect."""
    books = ledger("A00001")
    books.expect(["A00001"])
    assert 2 == books.fail(FailureCause.DISCONNECT, ["A00001", "A00001"])


def test_rest_fallbacks_are_counted() -> None:
    """Scalp observations asked over REST (failed ones included) are reported."""
    books = ledger()
    books.rest_fallback(3)
    assert 3 == books.close(END).rest_fallbacks


def test_entry_dicts_are_sorted_whatever_the_booking_order() -> None:
    """Counts by reason come out in key order, so the entry's bytes do not depend on order."""
    books = ledger("A00001", "A00002")
    books.record(dropped("A00002"))
    books.record(rejected("A00001"))
    entry = books.close(END)
    assert ["A00001", "A00002"] == list(entry.lost_by_symbol)


def test_check_catches_a_broken_balance() -> None:
    """A ledger whose counters were tampered with fails its own check."""
    books = ledger("A00001")
    books.record(admitted("A00001"))
    books.archived += 1
    with pytest.raises(ConservationError, match="expected 1 != accounted 2"):
        books.check()


def entry(expected: int, archived: int, deduplicated: int) -> LedgerEntry:
    return LedgerEntry(
        cycle_id="c",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10,
        ended_at=END,
        expected=expected,
        archived=archived,
        deduplicated=deduplicated,
        failed={"timeout": expected - archived - deduplicated},
    )


def test_loss_rate_is_loss_over_expected() -> None:
    """(1000 − 990 − 5) / 1000."""
    assert 5 / 1000 == loss_rate(entry(1_000, 990, 5))


def test_loss_rate_sums_over_entries_before_dividing() -> None:
    """Two cycles: (2 + 0) / (10 + 90), not the mean of the two rates."""
    assert 2 / 100 == loss_rate([entry(10, 8, 0), entry(90, 85, 5)])


def test_loss_rate_of_nothing_expected_is_zero() -> None:
    """No expectation, no loss; also for an empty list."""
    assert (0.0, 0.0) == (loss_rate(entry(0, 0, 0)), loss_rate([]))


def test_loss_count_excludes_deduplication() -> None:
    """Deduplicated observations are not loss."""
    assert 3 == loss_count([entry(10, 5, 2)])


def test_a_bare_string_of_symbols_is_refused() -> None:
    """expect("005930") would expect six one-character symbols: a clear TypeError instead."""
    with pytest.raises(TypeError, match="iterable of symbols"):
        ledger().expect("005930")
