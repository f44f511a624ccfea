"""Converters: checked-in REST responses and WS frames → the expected snapshot values."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from observer.kis import (
    DataFrame,
    KisConversionError,
    RestResult,
    ScalpBook,
    SnapshotContext,
    convert_rest_result,
    merge_trade_and_book,
    parse_message,
    snapshot_from_inquire_price,
    snapshot_from_multi_price_row,
    snapshot_from_orderbook,
    snapshot_from_orderbook_record,
    snapshot_from_trade_record,
)
from pipeline import (
    Admitted,
    Environment,
    Mode,
    ObservationSnapshot,
    Pipeline,
    Source,
    loss_rate,
)

DATA = Path(__file__).parent.parent / "data" / "kis"
DAY = dt.date(2023, 6, 12)
RECEIVED = dt.datetime(2023, 6, 12, 0, 33, 54, 500000, tzinfo=dt.UTC)  # 09:33:54.5 KST


def ctx(mode: Mode = Mode.SWING, **kw: Any) -> SnapshotContext:
    return SnapshotContext(
        mode=mode,
        environment=Environment.SIM,
        trading_day=DAY,
        receive_time=RECEIVED,
        cycle_id="c1",
        **kw,
    )


def builtins(snapshot: ObservationSnapshot, keys: list[str]) -> dict[str, Any]:
    data = msgspec.json.decode(msgspec.json.encode(snapshot))
    return {k: data.get(k) for k in keys}


def rest_result(name: str, tr_id: str, symbols: tuple[str, ...]) -> RestResult:
    text = (DATA / f"{name}.response.json").read_text(encoding="utf-8")
    return result_with(json.loads(text), tr_id, symbols, text=text)


def result_with(body: Any, tr_id: str, symbols: tuple[str, ...], text: str = "") -> RestResult:
    return RestResult(
        environment=Environment.SIM,
        tr_id=tr_id,
        path="/x",
        params={},
        status=200,
        text=text,
        body=body,
        received_at=RECEIVED,
        elapsed_ms=1.0,
        symbols=symbols,
    )


def expected(name: str) -> Any:
    return json.loads((DATA / f"{name}.expected.json").read_text(encoding="utf-8"))


def test_inquire_price_sample_converts_to_expected_values() -> None:
    """The recorded-style inquire-price response gives the hand-checked values."""
    outcome = convert_rest_result(
        rest_result("inquire_price", "FHKST01010100", ("005930",)), ctx(raw_seqs=(5,))
    )
    want = expected("inquire_price")
    assert [want] == [builtins(s, list(want)) for s in outcome.snapshots]


def test_halted_stock_before_its_first_trade_has_no_open_high_or_low() -> None:
    """A stock halted all day (open/high/low "0", no volume) converts them to null."""
    outcome = convert_rest_result(
        rest_result("inquire_price_halted", "FHKST01010100", ("305720",)), ctx()
    )
    want = expected("inquire_price_halted")
    assert [want] == [builtins(s, list(want)) for s in outcome.snapshots]


def test_halted_stock_before_its_first_trade_is_archived() -> None:
    """Its snapshot passes Validation, Guard and Enrichment: nothing is booked as loss."""
    outcome = convert_rest_result(
        rest_result("inquire_price_halted", "FHKST01010100", ("305720",)), ctx()
    )
    pipeline = Pipeline()
    pipeline.begin_cycle(
        "c1",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=RECEIVED,
        symbols=["305720"],
    )
    outcomes = [type(pipeline.process(s)) for s in outcome.snapshots]
    assert ([Admitted], 0.0) == (outcomes, loss_rate(pipeline.end_cycle("c1", RECEIVED)))


def untraded_multi_price_row(values: dict[str, str]) -> ObservationSnapshot:
    row = {"inter_shrn_iscd": "305720", "inter2_prpr": "19020", "prdy_vrss_sign": "3"}
    row.update(values)
    return snapshot_from_multi_price_row(row, ctx(), record_index=0)


def untraded_orderbook(values: dict[str, str]) -> ObservationSnapshot:
    output2 = {"stck_shrn_iscd": "305720", "stck_prpr": "19020"}
    output2.update(values)
    return snapshot_from_orderbook({}, output2, ctx(), symbol="305720")


def untraded_trade_record(values: dict[str, str]) -> ObservationSnapshot:
    record = trade_values()
    for index, field in ((7, "open"), (8, "high"), (9, "low")):
        record[index] = values[field]
    return snapshot_from_trade_record(record, ctx(Mode.SCALP))


@pytest.mark.parametrize(
    ("convert", "keys"),
    [
        (untraded_multi_price_row, ("inter2_oprc", "inter2_hgpr", "inter2_lwpr")),
        (untraded_orderbook, ("stck_oprc", "stck_hgpr", "stck_lwpr")),
        (untraded_trade_record, ("open", "high", "low")),
    ],
)
def test_zero_open_high_low_are_null_in_every_price_output(
    convert: Callable[[dict[str, str]], ObservationSnapshot], keys: tuple[str, ...]
) -> None:
    """Open, high and low of "0" (no trade yet today) are null, as an empty bid or ask is."""
    snap = convert(dict.fromkeys(keys, "0"))
    assert (None, None, None) == (snap.open, snap.high, snap.low)


@pytest.mark.parametrize(
    ("convert", "values"),
    [
        (
            lambda values: snapshot_from_inquire_price(values, ctx(), symbol="305720"),
            {"stck_prpr": "19020", "prdy_vrss": "0", "prdy_vrss_sign": "3"}
            | {"stck_prdy_clpr": "0", "stck_mxpr": "0", "stck_llam": "0"},
        ),
        (
            untraded_multi_price_row,
            {"inter2_prdy_vrss": "0", "inter2_prdy_clpr": "0"}
            | {"inter2_mxpr": "0", "inter2_llam": "0"},
        ),
    ],
)
def test_zero_limits_and_previous_close_are_null(
    convert: Callable[[dict[str, str]], ObservationSnapshot], values: dict[str, str]
) -> None:
    """A limit of "0" is no limit; a previous close of "0" is none (price − change instead)."""
    snap = convert(values)
    assert (19020, None, None) == (snap.prev_close, snap.upper_limit, snap.lower_limit)


def test_multi_price_sample_converts_rows_and_rejects_the_bad_one() -> None:
    """Two good rows convert; the row with a non-numeric price is a rejection with its path."""
    outcome = convert_rest_result(
        rest_result("multi_price", "FHKST11300006", ("005930", "247540", "000660")),
        ctx(raw_seqs=(5,)),
    )
    want = expected("multi_price")
    got_snapshots = [
        builtins(s, list(w)) for s, w in zip(outcome.snapshots, want["snapshots"], strict=True)
    ]
    got_rejections = [{"reason": e.reason, "path": e.path} for e in outcome.rejections]
    assert (want["snapshots"], want["rejections"]) == (got_snapshots, got_rejections)


def test_orderbook_sample_converts_depth_and_time() -> None:
    """output1 depth (10 levels each side) and aspr_acpt_hour on the trading day in KST."""
    outcome = convert_rest_result(rest_result("orderbook", "FHKST01010200", ("005930",)), ctx())
    want = expected("orderbook")
    assert [want] == [builtins(s, list(want)) for s in outcome.snapshots]


WS_CASES = sorted(p.name.removesuffix(".frame.txt") for p in DATA.glob("*.frame.txt"))


@pytest.mark.parametrize("case", WS_CASES)
def test_ws_frame_sample_converts_to_expected_records(case: str) -> None:
    """Every record of every checked-in frame gives the expected snapshot fields."""
    frame = parse_message((DATA / f"{case}.frame.txt").read_text(encoding="utf-8"))
    assert isinstance(frame, DataFrame)
    convert = (
        snapshot_from_trade_record if frame.tr_id == "H0STCNT0" else snapshot_from_orderbook_record
    )
    snaps = [
        convert(r, ctx(Mode.SCALP, raw_seqs=(11,)), record_index=i)
        for i, r in enumerate(frame.records)
    ]
    want = expected(case)["snapshots"]
    assert want == [builtins(s, list(w)) for s, w in zip(snaps, want, strict=True)]


def trade_values() -> list[str]:
    frame = parse_message((DATA / "h0stcnt0_one_record.frame.txt").read_text(encoding="utf-8"))
    assert isinstance(frame, DataFrame)
    return list(frame.records[0])


@pytest.mark.parametrize(
    ("index", "value", "reason", "path"),
    [
        (2, "71,900", "not_an_integer", "H0STCNT0[0].STCK_PRPR"),
        (2, "-5", "negative_price", "H0STCNT0[0].STCK_PRPR"),
        (3, "9", "bad_sign_code", "H0STCNT0[0].PRDY_VRSS_SIGN"),
        (5, "abc", "not_a_number", "H0STCNT0[0].PRDY_CTRT"),
        (5, "nan", "not_a_number", "H0STCNT0[0].PRDY_CTRT"),
        (5, "1_0", "not_a_number", "H0STCNT0[0].PRDY_CTRT"),
        (5, "1e3", "not_a_number", "H0STCNT0[0].PRDY_CTRT"),
        (5, "\u0663.5", "not_a_number", "H0STCNT0[0].PRDY_CTRT"),
        (5, "1" * 400, "not_a_number", "H0STCNT0[0].PRDY_CTRT"),
        (1, "25:61:00", "bad_time", "H0STCNT0[0].STCK_CNTG_HOUR"),
        (1, "256100", "bad_time", "H0STCNT0[0].STCK_CNTG_HOUR"),
        (1, "", "missing_time", "H0STCNT0[0].STCK_CNTG_HOUR"),
        (2, "", "missing_price", "H0STCNT0[0].STCK_PRPR"),
        (2, "0", "missing_price", "H0STCNT0[0].STCK_PRPR"),
        (33, "20231340", "bad_date", "H0STCNT0[0].BSOP_DATE"),
        (35, "X", "bad_flag", "H0STCNT0[0].TRHT_YN"),
        (13, "9" * 5000, "out_of_range", "H0STCNT0[0].ACML_VOL"),
        (2, "9" * 5000, "out_of_range", "H0STCNT0[0].STCK_PRPR"),
        (4, "-" + "9" * 5000, "out_of_range", "H0STCNT0[0].PRDY_VRSS"),
        (13, str(2**63), "out_of_range", "H0STCNT0[0].ACML_VOL"),
        (14, "9" * 19, "out_of_range", "H0STCNT0[0].ACML_TR_PBMN"),
        (4, str(-(2**63)), "out_of_range", "H0STCNT0[0].PRDY_VRSS"),
    ],
)
def test_bad_trade_value_is_a_typed_rejection_with_its_path(
    index: int, value: str, reason: str, path: str
) -> None:
    """A bad value raises KisConversionError with a reason code and the field path."""
    values = trade_values()
    values[index] = value
    with pytest.raises(KisConversionError) as info:
        snapshot_from_trade_record(values, ctx(Mode.SCALP))
    assert (reason, path) == (info.value.reason, info.value.path)


@pytest.mark.parametrize(
    ("text", "rate"), [("1.08", 1.08), ("-0.53", -0.53), ("+2", 2.0), (".5", 0.5), ("3.", 3.0)]
)
def test_plain_decimal_rate_converts(text: str, rate: float) -> None:
    """Signed ASCII decimals, with or without a fraction, are read as KIS sends them."""
    values = trade_values()
    values[3], values[5] = "3", text  # sign code 3 (flat) keeps the rate's own sign
    assert rate == snapshot_from_trade_record(values, ctx(Mode.SCALP)).change_rate_pct


def test_short_trade_record_is_a_rejection() -> None:
    """A 45-field record raises short_record instead of IndexError."""
    with pytest.raises(KisConversionError) as info:
        snapshot_from_trade_record(trade_values()[:45], ctx(Mode.SCALP))
    assert info.value.reason == "short_record"


def test_empty_bsop_date_falls_back_to_the_trading_day() -> None:
    """Without BSOP_DATE the HHMMSS time is placed on the context's trading day in KST."""
    values = trade_values()
    values[33] = ""
    snap = snapshot_from_trade_record(values, ctx(Mode.SCALP))
    assert snap.exchange_time.isoformat() == "2023-06-12T09:33:54+09:00"


def test_unsigned_change_on_a_down_day_becomes_negative() -> None:
    """Sign code 5 with '100' (unsigned) gives change -100 and rate -0.14."""
    values = trade_values()
    values[4], values[5] = "100", "0.14"
    snap = snapshot_from_trade_record(values, ctx(Mode.SCALP))
    assert (snap.change, snap.change_rate_pct) == (-100, -0.14)


def test_lower_limit_sign_is_negative_and_upper_limit_positive() -> None:
    """Sign 4 (lower limit) negates, sign 1 (upper limit) keeps a positive change."""
    down, up = trade_values(), trade_values()
    down[3], down[4] = "4", "21600"
    up[3], up[4] = "1", "-21600"
    assert (
        snapshot_from_trade_record(down, ctx()).change,
        snapshot_from_trade_record(up, ctx()).change,
    ) == (-21600, 21600)


def test_inquire_price_symbol_mismatch_is_rejected() -> None:
    """An output for another symbol than asked is a symbol_mismatch rejection."""
    with pytest.raises(KisConversionError) as info:
        snapshot_from_inquire_price(
            {"stck_shrn_iscd": "000660", "stck_prpr": "1"}, ctx(), symbol="005930"
        )
    assert info.value.reason == "symbol_mismatch"


def test_non_string_value_is_rejected() -> None:
    """KIS sends strings; a JSON number in a price field is a not_a_string rejection."""
    with pytest.raises(KisConversionError) as info:
        snapshot_from_inquire_price({"stck_prpr": 71900}, ctx(), symbol="005930")
    assert (info.value.reason, info.value.path) == ("not_a_string", "$.output.stck_prpr")


def test_inquire_price_with_a_5000_digit_volume_is_a_rejection() -> None:
    """A number too long for int() is an out_of_range rejection of the response, not a crash."""
    body = {"rt_cd": "0", "output": {"stck_prpr": "74600", "acml_vol": "9" * 5000}}
    result = result_with(body, "FHKST01010100", ("005930",))
    outcome = convert_rest_result(result, ctx())
    assert ((), [("out_of_range", "$.output.acml_vol")]) == (
        outcome.snapshots,
        [(r.reason, r.path) for r in outcome.rejections],
    )


def test_multi_price_row_with_a_huge_number_loses_only_that_row() -> None:
    """A 4,301-digit price rejects its own row; the good rows of the response are kept."""
    rows = [
        {"inter_shrn_iscd": "005930", "inter2_prpr": "74600"},
        {"inter_shrn_iscd": "000660", "inter2_prpr": "9" * 4301},
    ]
    result = result_with({"rt_cd": "0", "output": rows}, "FHKST11300006", ("005930", "000660"))
    outcome = convert_rest_result(result, ctx())
    assert (["005930"], [("out_of_range", "$.output[1].inter2_prpr")]) == (
        [s.symbol for s in outcome.snapshots],
        [(r.reason, r.path) for r in outcome.rejections],
    )


def test_largest_int64_volume_is_admitted() -> None:
    """2**63 - 1 is the last integer an int64 column holds: it converts."""
    values = trade_values()
    values[13] = str(2**63 - 1)
    assert 2**63 - 1 == snapshot_from_trade_record(values, ctx(Mode.SCALP)).volume


def test_previous_close_beyond_int64_is_a_rejection() -> None:
    """A price and a down change that are each in range but whose difference is not."""
    values = trade_values()
    values[2], values[3], values[4] = str(2**63 - 1), "5", "1"
    with pytest.raises(KisConversionError) as info:
        snapshot_from_trade_record(values, ctx(Mode.SCALP))
    assert ("out_of_range", "H0STCNT0[0].PRDY_VRSS") == (info.value.reason, info.value.path)


def test_zero_padded_number_is_read_by_its_value_not_its_length() -> None:
    """Leading zeros do not count toward the digit bound: 30 zeros then 7 is 7."""
    snap = snapshot_from_inquire_price(
        {"stck_prpr": "1", "acml_vol": "0" * 30 + "7"}, ctx(), symbol="005930"
    )
    assert 7 == snap.volume


def test_rest_exchange_time_defaults_to_receive_time_in_kst() -> None:
    """inquire-price has no time field: exchange_time is the receive time, in KST."""
    snap = snapshot_from_inquire_price({"stck_prpr": "1"}, ctx(), symbol="005930")
    assert (
        snap.exchange_time.isoformat(),
        snap.exchange_time.isoformat()[-6:],
    ) == ("2023-06-12T09:33:54.500000+09:00", "+09:00")


def frame_from(case: str) -> DataFrame:
    frame = parse_message((DATA / f"{case}.frame.txt").read_text(encoding="utf-8"))
    assert isinstance(frame, DataFrame)
    return frame


def test_scalp_book_merges_latest_trade_and_orderbook() -> None:
    """Price/change from the trade, depth from the orderbook, both raw seqs in the lineage."""
    book = ScalpBook(environment=Environment.SIM, trading_day=DAY)
    book.apply(frame_from("h0stcnt0_three_records"), raw_seq=1, receive_time=RECEIVED)
    book.apply(
        frame_from("h0stasp0_two_records"),
        raw_seq=2,
        receive_time=RECEIVED + dt.timedelta(seconds=1),
    )
    snap = book.snapshot("000660", cycle_id="s1", seq=9)
    assert snap is not None
    assert (
        118500,
        1500,
        (118500, 119000, 119500),
        118400,
        (1, 2),
        1,
        Mode.SCALP,
        9,
        RECEIVED + dt.timedelta(seconds=1),
    ) == (
        snap.last,
        snap.change,
        snap.ask_prices,
        snap.bid,
        snap.lineage.raw_seqs if snap.lineage else None,
        snap.lineage.record_index if snap.lineage else None,
        snap.mode,
        snap.seq,
        snap.receive_time,
    )


def test_scalp_book_keeps_the_latest_record_per_symbol() -> None:
    """A later trade frame replaces the earlier one for the same symbol."""
    book = ScalpBook(environment=Environment.SIM, trading_day=DAY)
    book.apply(frame_from("h0stcnt0_one_record"), raw_seq=1, receive_time=RECEIVED)
    later = frame_from("h0stcnt0_three_records")
    book.apply(later, raw_seq=7, receive_time=RECEIVED)
    snap = book.snapshot("005930", cycle_id="s")
    assert (
        snap.lineage.raw_seqs if snap and snap.lineage else None,
        book.symbols(),
    ) == ((7,), ("000660", "005930", "035720"))


def test_scalp_book_returns_rejections_and_keeps_the_previous_record() -> None:
    """A record with a bad price is returned as a rejection and does not replace good state."""
    book = ScalpBook(environment=Environment.SIM, trading_day=DAY)
    book.apply(frame_from("h0stcnt0_one_record"), raw_seq=1, receive_time=RECEIVED)
    bad = trade_values()
    bad[2] = "x"
    frame = parse_message("0|H0STCNT0|001|" + "^".join(bad))
    assert isinstance(frame, DataFrame)
    rejections = book.apply(frame, raw_seq=2, receive_time=RECEIVED)
    snap = book.snapshot("005930", cycle_id="s")
    assert (
        [r.reason for r in rejections],
        snap.last if snap else None,
    ) == (["not_an_integer"], 71900)


def test_trade_without_a_price_keeps_the_previous_trade() -> None:
    """A later trade record with an empty price is a counted rejection; the symbol keeps
    the last good trade (its price and its receive time) instead of a trade with no price."""
    book = ScalpBook(environment=Environment.SIM, trading_day=DAY)
    book.apply(frame_from("h0stcnt0_one_record"), raw_seq=1, receive_time=RECEIVED)
    bad = trade_values()
    bad[2] = ""
    frame = parse_message("0|H0STCNT0|001|" + "^".join(bad))
    assert isinstance(frame, DataFrame)
    later = RECEIVED + dt.timedelta(seconds=1)
    rejections = book.apply(frame, raw_seq=2, receive_time=later)
    snap = book.snapshot("005930", cycle_id="s")
    assert (["missing_price"], 71900, RECEIVED) == (
        [r.reason for r in rejections],
        snap.last if snap else None,
        snap.receive_time if snap else None,
    )


def book_values(asks: list[str], bids: list[str]) -> list[str]:
    values = list(frame_from("h0stasp0_one_record").records[0])
    values[3:13] = [*asks, *["0"] * (10 - len(asks))]
    values[13:23] = [*bids, *["0"] * (10 - len(bids))]
    return values


@pytest.mark.parametrize(
    ("asks", "bids", "path"),
    [
        (["74600", "99000", "74700", "50000"], ["74500"], "H0STASP0[0].ASKP3"),
        (["74600", "74600"], ["74500"], "H0STASP0[0].ASKP2"),
        (["74600"], ["74500", "74400", "74450"], "H0STASP0[0].BIDP3"),
    ],
)
def test_orderbook_levels_out_of_order_are_a_rejection(
    asks: list[str], bids: list[str], path: str
) -> None:
    """Asks must rise and bids fall with the level (reference 5.2): the first level that
    breaks the order rejects the record as depth_out_of_order."""
    with pytest.raises(KisConversionError) as info:
        snapshot_from_orderbook_record(book_values(asks, bids), ctx(Mode.SCALP))
    assert ("depth_out_of_order", path) == (info.value.reason, info.value.path)


def test_orderbook_empty_levels_still_end_the_depth() -> None:
    """A level after an empty one is not read, so it is not checked for order either."""
    snap = snapshot_from_orderbook_record(
        book_values(["74600", "74700", "0", "50000"], ["74500", "", "99000"]), ctx(Mode.SCALP)
    )
    assert ((74600, 74700), (74500,)) == (snap.ask_prices, snap.bid_prices)


def test_rest_orderbook_levels_out_of_order_are_a_rejection() -> None:
    """The REST orderbook is held to the same order as the WebSocket one."""
    output1 = {"askp1": "74600", "askp2": "74500", "askp_rsqn1": "1", "askp_rsqn2": "1"}
    with pytest.raises(KisConversionError) as info:
        snapshot_from_orderbook(output1, None, ctx(), symbol="005930")
    assert ("depth_out_of_order", "$.output1.askp2") == (info.value.reason, info.value.path)


def test_scalp_book_keeps_the_last_good_orderbook_over_an_unordered_one() -> None:
    """An orderbook record out of order is counted and does not replace the good one."""
    book = ScalpBook(environment=Environment.SIM, trading_day=DAY)
    book.apply(frame_from("h0stasp0_one_record"), raw_seq=1, receive_time=RECEIVED)
    bad = book_values(["71900", "99000", "72000"], ["71800"])
    frame = parse_message("0|H0STASP0|001|" + "^".join(bad))
    assert isinstance(frame, DataFrame)
    rejections = book.apply(frame, raw_seq=2, receive_time=RECEIVED)
    kept = book.books["005930"]
    assert (["depth_out_of_order"], (1,)) == (
        [r.reason for r in rejections],
        kept.lineage.raw_seqs if kept.lineage else (),
    )


def test_merge_with_orderbook_only_has_no_last_price() -> None:
    """With no trade yet, the scalp snapshot carries the quote and no last price."""
    quote = snapshot_from_orderbook_record(
        frame_from("h0stasp0_one_record").records[0], ctx(Mode.SCALP)
    )
    snap = merge_trade_and_book(None, quote, cycle_id="s")
    assert (snap.last, snap.ask, snap.bid) == (None, 71900, 71800)


def test_merge_refuses_two_different_symbols() -> None:
    """Merging a trade of one symbol with the book of another is a programming error."""
    trade = snapshot_from_trade_record(trade_values(), ctx(Mode.SCALP))
    quote = snapshot_from_orderbook_record(
        frame_from("h0stasp0_two_records").records[1], ctx(Mode.SCALP)
    )
    with pytest.raises(ValueError, match="symbols differ"):
        merge_trade_and_book(trade, quote, cycle_id="s")


@given(
    st.lists(
        st.sampled_from(
            [
                "h0stcnt0_one_record",
                "h0stcnt0_three_records",
                "h0stasp0_one_record",
                "h0stasp0_two_records",
            ]
        ),
        min_size=1,
        max_size=6,
    )
)
def test_scalp_fold_is_deterministic(cases: list[str]) -> None:
    """Folding the same frames in the same order twice gives identical snapshots."""

    def fold() -> list[ObservationSnapshot | None]:
        book = ScalpBook(environment=Environment.SIM, trading_day=DAY)
        for seq, case in enumerate(cases):
            book.apply(
                frame_from(case), raw_seq=seq, receive_time=RECEIVED + dt.timedelta(seconds=seq)
            )
        return [book.snapshot(s, cycle_id="s") for s in book.symbols()]

    assert fold() == fold()


@given(st.text(max_size=12))
def test_any_price_text_converts_or_rejects_typed(text: str) -> None:
    """Any string in the price field either converts to an int or raises KisConversionError."""
    values = trade_values()
    values[2] = text
    try:
        last = snapshot_from_trade_record(values, ctx()).last
    except KisConversionError:
        last = "rejected"
    assert last is None or last == "rejected" or isinstance(last, int)


_DEPTH_VALUE = st.one_of(
    st.sampled_from(
        ["0", "", " 5", "00", "-5", "+7", "1_0", "٣", "²", "12", "99999999", "9" * 5000]
    ),
    st.from_regex(r"[0-9]{1,9}", fullmatch=True),
    st.none(),
    st.integers(min_value=-5, max_value=5),
)
# mostly plain values (digits, an empty level now and then), so the fast path is taken often
_PLAIN = st.integers(min_value=0, max_value=200_000).map(str) | st.sampled_from(["0", ""])
_BOOK = st.lists(st.tuples(_PLAIN | _DEPTH_VALUE, _PLAIN), max_size=10)


@given(_BOOK, st.integers(min_value=0, max_value=3))
def test_depth_fast_path_answers_as_the_level_by_level_parse(
    levels: list[tuple[Any, str]], odd: int
) -> None:
    """Orderbook depth takes one check for all-plain values; whatever the values (plain
    digits, empty levels, signs, spaces, non-ASCII digits, non-strings, unequal lengths) it
    returns or rejects exactly as the level-by-level parse does."""
    from observer.kis._convert import _depth_levels, _depth_levels_general

    prices, sizes = [p for p, _s in levels], [s for _p, s in levels]
    if odd == 1:
        sizes = sizes[:-1]  # unequal lengths
    elif odd == 2:
        sizes = [f" {s}" for s in sizes]  # padded sizes

    def outcome(parse: Any) -> Any:
        try:
            return parse(prices, sizes, "output1", "askp", "askp_rsqn")
        except (KisConversionError, ValueError) as exc:
            return (type(exc).__name__, str(exc))

    assert outcome(_depth_levels_general) == outcome(_depth_levels)
