"""Validation: one rejection reason per test, each with its field path."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import msgspec
import pytest
from hypothesis import given

from pipeline import (
    KST,
    Admitted,
    PipelineConfig,
    Rejected,
    RejectReason,
    ValidationConfig,
    validate,
)
from pipeline._stages import _explain_fields, _plain
from tests.pipeline.helpers import CONFIG, kst, snap
from tests.strategies import snapshots, valid_snapshots


def reason_and_path(outcome: object) -> tuple[object, object]:
    assert isinstance(outcome, Rejected), outcome
    return outcome.reason, outcome.path


def test_a_good_snapshot_is_admitted_unchanged() -> None:
    """A plausible snapshot passes Validation as the very same object."""
    s = snap()
    outcome = validate(s, None, CONFIG)
    assert (Admitted, True) == (type(outcome), outcome.snapshot is s)


@given(valid_snapshots())
def test_plausible_snapshots_are_admitted(s: object) -> None:
    """Every snapshot of the shared plausible strategy passes Validation."""
    assert Admitted is type(validate(s, None, CONFIG))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("last", "70000", "$.last"),
        ("last", 70000.0, "$.last"),
        ("last", True, "$.last"),
        ("volume", "1", "$.volume"),
        ("symbol", 5930, "$.symbol"),
        ("mode", "swing", "$.mode"),
        ("trading_day", dt.datetime(2026, 1, 5), "$.trading_day"),
        ("exchange_time", "2026-01-05T10:00:00+09:00", "$.exchange_time"),
        ("change_rate_pct", 1, "$.change_rate_pct"),
        ("vi_active", 1, "$.vi_active"),
        ("status_code", 55, "$.status_code"),
        ("bid_prices", [70_000], "$.bid_prices"),
        ("lineage", "raw#1", "$.lineage"),
    ],
)
def test_wrong_type_is_rejected_with_its_path(field: str, value: object, path: str) -> None:
    """A value of the wrong type (built without msgspec validation) → WRONG_TYPE at its path."""
    assert (RejectReason.WRONG_TYPE, path) == reason_and_path(
        validate(snap(**{field: value}), None, CONFIG)
    )


def test_wrong_type_detail_reads_like_msgspec() -> None:
    """The detail says what was expected, what came, and where."""
    outcome = validate(snap(last="70000"), None, CONFIG)
    assert isinstance(outcome, Rejected)
    assert "Expected `int | null`, got `str` - at `$.last`" == outcome.detail


def test_wrong_type_inside_lineage_names_the_nested_path() -> None:
    """A bad raw sequence number inside the lineage is reported at its index."""
    from pipeline import Lineage, Mode, Source

    lineage = Lineage(raw_mode=Mode.SWING, raw_source=Source.KIS_REST, raw_seqs=(1, "2"))  # type: ignore[arg-type]
    assert (RejectReason.WRONG_TYPE, "$.lineage.raw_seqs[1]") == reason_and_path(
        validate(snap(lineage=lineage), None, CONFIG)
    )


@pytest.mark.parametrize("field", ["exchange_time", "receive_time"])
def test_naive_timestamp_is_rejected(field: str) -> None:
    """A timestamp without a UTC offset → NAIVE_TIMESTAMP."""
    s = snap()
    naive = getattr(s, field).replace(tzinfo=None)
    assert (RejectReason.NAIVE_TIMESTAMP, f"$.{field}") == reason_and_path(
        validate(snap(**{field: naive}), None, CONFIG)
    )


def test_missing_required_last_is_rejected() -> None:
    """``last`` is required by default → MISSING_FIELD at $.last."""
    assert (RejectReason.MISSING_FIELD, "$.last") == reason_and_path(
        validate(snap(last=None), None, CONFIG)
    )


def test_required_fields_are_configurable() -> None:
    """With ``required = ["bid"]`` a snapshot without a bid is rejected at $.bid."""
    config = PipelineConfig(validation=ValidationConfig(required=("bid",)))
    assert (RejectReason.MISSING_FIELD, "$.bid") == reason_and_path(
        validate(snap(bid=None), None, config)
    )


def test_nan_change_rate_is_rejected() -> None:
    """NaN would be archived as null → NOT_FINITE."""
    assert (RejectReason.NOT_FINITE, "$.change_rate_pct") == reason_and_path(
        validate(snap(change_rate_pct=float("nan")), None, CONFIG)
    )


@pytest.mark.parametrize("symbol", ["5930", "0059300", "00593A", "Q500001", ""])
def test_symbol_outside_the_pattern_is_rejected(symbol: str) -> None:
    """The default pattern is six digits."""
    assert (RejectReason.BAD_SYMBOL, "$.symbol") == reason_and_path(
        validate(snap(symbol=symbol), None, CONFIG)
    )


def test_etn_symbols_pass_with_a_configured_pattern() -> None:
    """``symbol_pattern`` admits Q-prefixed ETN codes when configured."""
    config = PipelineConfig(validation=ValidationConfig(symbol_pattern="[0-9]{6}|Q[0-9]{6}"))
    assert Admitted is type(validate(snap(symbol="Q500001"), None, config))


@pytest.mark.parametrize(
    "field", ["last", "open", "high", "low", "prev_close", "upper_limit", "bid", "ask"]
)
def test_non_positive_price_is_rejected(field: str) -> None:
    """A price of 0 → NON_POSITIVE_PRICE at that field."""
    assert (RejectReason.NON_POSITIVE_PRICE, f"$.{field}") == reason_and_path(
        validate(snap(**{field: 0}), None, CONFIG)
    )


def test_non_positive_depth_price_is_rejected() -> None:
    """A depth level priced 0 → NON_POSITIVE_PRICE at its index."""
    s = snap(bid_prices=(69_900, 0), bid_sizes=(1, 2))
    assert (RejectReason.NON_POSITIVE_PRICE, "$.bid_prices[1]") == reason_and_path(
        validate(s, None, CONFIG)
    )


@pytest.mark.parametrize("field", ["volume", "turnover", "bid_size", "ask_size"])
def test_negative_quantity_is_rejected(field: str) -> None:
    """A negative volume, turnover or size → NEGATIVE_QUANTITY."""
    assert (RejectReason.NEGATIVE_QUANTITY, f"$.{field}") == reason_and_path(
        validate(snap(**{field: -1}), None, CONFIG)
    )


def test_depth_arrays_of_unequal_length_are_rejected() -> None:
    """Three ask prices with two sizes → MALFORMED_DEPTH."""
    s = snap(ask_prices=(70_000, 70_100, 70_200), ask_sizes=(5, 6))
    assert (RejectReason.MALFORMED_DEPTH, "$.ask_sizes") == reason_and_path(
        validate(s, None, CONFIG)
    )


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"last": 71_100}, "$.last"),
        ({"last": 67_900}, "$.last"),
        ({"low": 71_500}, "$.low"),
    ],
)
def test_last_outside_the_day_range_is_rejected(changes: dict[str, int], path: str) -> None:
    """low <= last <= high must hold → OUTSIDE_DAY_RANGE."""
    assert (RejectReason.OUTSIDE_DAY_RANGE, path) == reason_and_path(
        validate(snap(**changes), None, CONFIG)
    )


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"upper_limit": 70_500}, "$.high"),
        ({"lower_limit": 68_500}, "$.low"),
        ({"upper_limit": 40_000, "lower_limit": 50_000}, "$.lower_limit"),
        ({"high": None, "low": None, "upper_limit": 69_000}, "$.last"),
    ],
)
def test_prices_outside_the_limit_band_are_rejected(changes: dict[str, int], path: str) -> None:
    """Prices beyond the day's lower/upper limit → OUTSIDE_LIMITS."""
    assert (RejectReason.OUTSIDE_LIMITS, path) == reason_and_path(
        validate(snap(**changes), None, CONFIG)
    )


def test_crossed_quote_is_rejected() -> None:
    """bid > ask → CROSSED_QUOTE; a locked quote (bid == ask) is fine."""
    assert (
        (RejectReason.CROSSED_QUOTE, "$.bid"),
        Admitted,
    ) == (
        reason_and_path(validate(snap(bid=70_100, ask=70_000), None, CONFIG)),
        type(validate(snap(bid=70_000, ask=70_000), None, CONFIG)),
    )


def test_exchange_time_on_another_kst_date_is_rejected() -> None:
    """An exchange time on the next KST day → OUTSIDE_TRADING_DAY."""
    s = snap(exchange_time=dt.datetime(2026, 1, 6, 10, 0, tzinfo=KST))
    assert (RejectReason.OUTSIDE_TRADING_DAY, "$.exchange_time") == reason_and_path(
        validate(s, None, CONFIG)
    )


def test_utc_exchange_time_is_judged_by_its_kst_date() -> None:
    """23:30 UTC on Jan 4 is 08:30 KST on Jan 5: on the trading day, admitted."""
    s = snap(exchange_time=dt.datetime(2026, 1, 4, 23, 30, tzinfo=dt.UTC))
    assert Admitted is type(validate(s, None, CONFIG))


def test_zoneinfo_timestamps_are_accepted() -> None:
    """A ZoneInfo("Asia/Seoul") exchange time takes the slow path and still passes."""
    seoul = zoneinfo.ZoneInfo("Asia/Seoul")
    s = snap(exchange_time=dt.datetime(2026, 1, 5, 10, 0, tzinfo=seoul))
    assert Admitted is type(validate(s, None, CONFIG))


@pytest.mark.parametrize("at", [kst(7, 59, 59), kst(18, 1)])
def test_exchange_time_outside_the_day_window_is_rejected(at: dt.datetime) -> None:
    """Before 08:00 or after 18:00:59 KST → OUTSIDE_TRADING_DAY."""
    assert (RejectReason.OUTSIDE_TRADING_DAY, "$.exchange_time") == reason_and_path(
        validate(snap(exchange_time=at), None, CONFIG)
    )


@given(snapshots())
def test_fast_path_never_passes_what_the_slow_path_rejects(s: object) -> None:
    """_plain(s) (the fast type/sign check) implies _explain_fields(s) finds nothing."""
    fast = _plain(s)  # type: ignore[arg-type]
    slow = _explain_fields(s)  # type: ignore[arg-type]
    assert (fast and slow is not None) is False


class _Levels(tuple):  # type: ignore[type-arg]
    """A tuple subclass: equal to a tuple, but not the type the model says."""


@pytest.mark.parametrize("side", ["bid_prices", "ask_sizes"])
def test_an_empty_tuple_subclass_for_depth_gets_the_same_answer_on_both_paths(side: str) -> None:
    """An empty tuple subclass equals () but is no tuple: fast and slow paths both say so."""
    s = snap(**{side: _Levels()})
    outcome = validate(s, None, CONFIG)
    assert (False, Rejected, f"$.{side}") == (
        _plain(s),
        type(outcome),
        getattr(outcome, "path", None),
    )


@given(snapshots())
def test_validation_never_raises_on_any_snapshot(s: object) -> None:
    """Any snapshot (any field values) gets an Outcome, never an exception."""
    assert type(validate(s, None, CONFIG)) in (Admitted, Rejected)  # type: ignore[arg-type]


def test_validation_does_not_mutate_or_copy_a_rejected_snapshot() -> None:
    """The Rejected outcome carries the same snapshot object, unchanged."""
    s = snap(last=0)
    before = msgspec.json.encode(s)
    outcome = validate(s, None, CONFIG)
    assert (True, before) == (outcome.snapshot is s, msgspec.json.encode(s))


def test_a_full_order_book_takes_the_fast_path_and_passes() -> None:
    """Ten levels a side, well formed: admitted without the slow explanation."""
    s = snap(
        bid_prices=tuple(69_900 - 100 * i for i in range(10)),
        bid_sizes=tuple(range(10)),
        ask_prices=tuple(70_000 + 100 * i for i in range(10)),
        ask_sizes=tuple(range(1, 11)),
    )
    assert (True, Admitted) == (_plain(s), type(validate(s, None, CONFIG)))


@pytest.mark.parametrize(
    "changes",
    [
        {"bid_prices": (69_900, True), "bid_sizes": (1, 2)},
        {"bid_prices": (69_900,), "bid_sizes": (-1,)},
        {"ask_prices": (70_000, 70_100), "ask_sizes": (1,)},
        {"ask_prices": [70_000], "ask_sizes": (1,)},
    ],
)
def test_a_bad_order_book_leaves_the_fast_path(changes: dict[str, object]) -> None:
    """Bools, negative sizes, unequal lengths and lists are not 'plain' and get rejected."""
    s = snap(**changes)
    assert (False, Rejected) == (_plain(s), type(validate(s, None, CONFIG)))
