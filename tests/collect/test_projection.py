"""The projection: raw journal events → numbered snapshots and ledger entries, deterministic."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from observer.collect import Projector, project_journal
from observer.collect._events import CycleHeader
from pipeline import (
    KST,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    RawEvent,
    RestResponse,
    Source,
    WsFrame,
    encode,
)

DATA = Path(__file__).parent / "data"  # recorded KIS answers and frames (copies of tests/data/kis)
DAY = dt.date(2023, 6, 12)
T0 = dt.datetime(2023, 6, 12, 9, 34, 0, tzinfo=KST).astimezone(dt.UTC)
MULTI = (DATA / "multi_price.response.json").read_text()  # row 3 (000660) has a bad price
_clean = json.loads(MULTI)
_clean["output"][2]["inter2_prpr"] = "180000"
MULTI_CLEAN = json.dumps(_clean, ensure_ascii=False)
SINGLE = (DATA / "inquire_price.response.json").read_text()
TRADE = (DATA / "h0stcnt0_one_record.frame.txt").read_text().strip()
BOOK = (DATA / "h0stasp0_one_record.frame.txt").read_text().strip()
SYMBOLS = ("005930", "247540", "000660")

SWING = CycleHeader(Mode.SWING, Source.KIS_REST, Environment.SIM, DAY, "swing-1")
SCALP = CycleHeader(Mode.SCALP, Source.KIS_WS, Environment.SIM, DAY, "scalp-1")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def rest(
    body: str,
    symbols: tuple[str, ...],
    *,
    cycle: CycleHeader = SWING,
    tr_id: str = "FHKST11300006",
    status: int = 200,
) -> RestResponse:
    return RestResponse(
        mode=cycle.mode,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY,
        receive_time=at(1),
        cycle_id=cycle.cycle_id,
        tr_id=tr_id,
        path="/uapi/domestic-stock/v1/quotations/x",
        status=status,
        body=body,
        symbols=symbols,
    )


def frame(text: str, seconds: float) -> WsFrame:
    return WsFrame(
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY,
        receive_time=at(seconds),
        text=text,
    )


def numbered(events: list[RawEvent]) -> list[RawEvent]:
    import msgspec

    return [msgspec.structs.replace(e, seq=i) for i, e in enumerate(events, start=1)]


def run(events: list[RawEvent]) -> list[ObservationSnapshot | LedgerEntry]:
    return list(project_journal(numbered(events)))


def ledger_of(out: list[ObservationSnapshot | LedgerEntry]) -> LedgerEntry:
    (entry,) = [r for r in out if isinstance(r, LedgerEntry)]
    return entry


def swing_cycle(body: str, symbols: tuple[str, ...] = SYMBOLS) -> list[RawEvent]:
    return [
        SWING.started(at(0), scheduled=at(0), symbols=symbols),
        rest(body, symbols),
        SWING.ended(at(2)),
    ]


def test_multi_price_response_projects_one_snapshot_per_row() -> None:
    """Three rows of a multi-price answer become snapshots 1-3 of the swing partition."""
    out = run(swing_cycle(MULTI_CLEAN))
    snaps = [r for r in out if isinstance(r, ObservationSnapshot)]
    assert [(1, "005930"), (2, "247540"), (3, "000660")] == [(s.seq, s.symbol) for s in snaps]


def test_clean_swing_cycle_books_no_loss() -> None:
    """All rows received and admitted: expected 3, archived 3, nothing failed."""
    entry = ledger_of(run(swing_cycle(MULTI_CLEAN)))
    assert (3, 3, {}) == (entry.expected, entry.archived, entry.failed)


def test_row_that_does_not_convert_is_booked_as_parse_failure() -> None:
    """A row whose price is not an integer is lost under parse, for its symbol."""
    entry = ledger_of(run(swing_cycle(MULTI)))
    assert (2, {"parse": 1}, {"000660": 1}) == (entry.archived, entry.failed, entry.lost_by_symbol)


def test_ledger_entry_is_numbered_with_the_cycle_end_raw_seq() -> None:
    """The ledger entry's seq is the CycleEnded event's raw seq (3rd event)."""
    assert 3 == ledger_of(run(swing_cycle(MULTI))).seq


def test_symbol_missing_from_the_answer_is_booked_as_parse_failure() -> None:
    """A symbol asked for and absent from the rows fails with cause parse."""
    entry = ledger_of(run(swing_cycle(MULTI_CLEAN, (*SYMBOLS, "035720"))))
    assert ({"parse": 1}, {"035720": 1}) == (entry.failed, entry.lost_by_symbol)


def test_rate_limited_envelope_fails_every_symbol_asked() -> None:
    """An EGW00201 envelope journaled as a response books its symbols as rate_limit."""
    body = json.dumps(
        {"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당 거래건수를 초과하였습니다."}
    )
    entry = ledger_of(run(swing_cycle(body)))
    assert {"rate_limit": 3} == entry.failed


def test_collection_failed_books_only_what_is_still_outstanding() -> None:
    """A failure naming a symbol already received books only the outstanding ones."""
    events = [
        SWING.started(at(0), scheduled=at(0), symbols=(*SYMBOLS, "035720")),
        rest(MULTI_CLEAN, SYMBOLS),
        SWING.failed(at(1), cause=FailureCause.TIMEOUT, symbols=("005930", "035720")),
        SWING.ended(at(2)),
    ]
    assert {"timeout": 1} == ledger_of(run(events)).failed


def test_cycle_end_books_what_never_came_as_missed() -> None:
    """A cycle that ends with symbols outstanding books them as missed."""
    events = [SWING.started(at(0), scheduled=at(0), symbols=SYMBOLS), SWING.ended(at(2))]
    assert {"missed": 3} == ledger_of(run(events)).failed


def scalp_events(*, fallback: bool = False, late_frame: bool = False) -> list[RawEvent]:
    events: list[RawEvent] = [
        SCALP.started(at(0), scheduled=at(0)),
        frame(TRADE, 0.2),
        frame(BOOK, 0.3),
        SCALP.struck(
            at(0.5),
            second=at(0.5),
            symbols=("005930",),
            fallback=("005930",) if fallback else (),
        ),
    ]
    if late_frame:
        events.insert(2, SCALP.struck(at(0.25), second=at(0.25), symbols=("005930",)))
    if fallback:
        events.append(rest(SINGLE, ("005930",), cycle=SCALP, tr_id="FHKST01010100"))
    events.append(SCALP.ended(at(1)))
    return events


def test_scalp_strike_merges_trade_and_orderbook_frames() -> None:
    """A strike after a trade and an orderbook frame gives one kis-ws snapshot of both."""
    (snap,) = [r for r in run(scalp_events()) if isinstance(r, ObservationSnapshot)]
    assert (Source.KIS_WS, 71_900, 71_900, (2, 3)) == (
        snap.source,
        snap.last,
        snap.ask,
        snap.lineage.raw_seqs if snap.lineage else (),
    )


def test_scalp_strike_sees_only_frames_received_before_it() -> None:
    """A strike between the trade and the orderbook frame has no orderbook depth."""
    snaps = [r for r in run(scalp_events(late_frame=True)) if isinstance(r, ObservationSnapshot)]
    assert ((), 10) == (snaps[0].ask_prices, len(snaps[-1].ask_prices))


def test_scalp_fallback_is_served_over_rest_and_counted() -> None:
    """A fallback symbol gets its snapshot from the REST answer, tagged kis-rest, counted."""
    out = run(scalp_events(fallback=True))
    snaps = [r for r in out if isinstance(r, ObservationSnapshot)]
    entry = ledger_of(out)
    assert ([Source.KIS_REST], 1, 1, 1) == (
        [s.source for s in snaps],
        entry.rest_fallbacks,
        entry.expected,
        entry.archived,
    )


def test_event_of_a_cycle_that_is_not_open_is_counted_not_raised() -> None:
    """A response for an unknown cycle is counted in unknown_cycle_events."""
    projector = Projector()
    out = projector.feed(rest(MULTI, SYMBOLS))
    assert ([], 1) == (out, projector.unknown_cycle_events)


def shuffled_json(text: str, seed: int) -> str:
    rng = random.Random(seed)

    def shuffle(value: object) -> object:
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(value, list):
            return [shuffle(v) for v in value]
        return value

    return json.dumps(shuffle(json.loads(text)), ensure_ascii=False)


@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_key_order_of_the_answer_does_not_change_a_byte(seed: int) -> None:
    """Shuffling the keys of the REST body gives byte-identical snapshots and ledger."""
    baseline = b"\n".join(encode(r) for r in run(swing_cycle(MULTI)))
    shuffled = b"\n".join(encode(r) for r in run(swing_cycle(shuffled_json(MULTI, seed))))
    assert baseline == shuffled


def test_rederiving_a_mixed_journal_twice_gives_identical_bytes() -> None:
    """Swing and scalp events interleaved, projected twice by fresh projectors: same bytes."""
    events = numbered(
        [*swing_cycle(MULTI)[:2], *scalp_events(fallback=True), swing_cycle(MULTI)[2]]
    )
    first = b"\n".join(encode(r) for r in project_journal(events))
    second = b"\n".join(encode(r) for r in project_journal(events))
    assert (first, True) == (second, len(first) > 0)


def fallback_waits(answer: RawEvent) -> LedgerEntry:
    events: list[RawEvent] = [SCALP.started(at(0), scheduled=at(0))]
    for second in (1, 2):
        events.append(
            SCALP.struck(at(second), second=at(second), symbols=("005930",), fallback=("005930",))
        )
    events += [answer, SCALP.ended(at(3))]
    return ledger_of(run(events))


def test_one_fallback_answer_serves_every_second_waiting_for_it() -> None:
    """Two seconds waited on one REST answer: one archived, the repeat deduplicated, no loss."""
    entry = fallback_waits(rest(SINGLE, ("005930",), cycle=SCALP, tr_id="FHKST01010100"))
    assert (2, 1, 1, {}) == (entry.expected, entry.archived, entry.deduplicated, entry.failed)


def test_failed_fallback_fails_every_second_waiting_for_it() -> None:
    """A fallback that times out books both seconds that waited on it."""
    entry = fallback_waits(SCALP.failed(at(2.5), cause=FailureCause.TIMEOUT, symbols=("005930",)))
    assert {"timeout": 2} == entry.failed


def test_symbol_with_an_orderbook_but_no_trade_is_stale() -> None:
    """Until a trade arrives, a symbol falls back to REST: an orderbook has no last price."""
    projector = Projector()
    for event in numbered([SCALP.started(at(0), scheduled=at(0)), frame(BOOK, 0.3)]):
        projector.feed(event)
    stale = projector.stale_symbols(["005930"], as_of=at(1), stale_after=dt.timedelta(seconds=5))
    assert ("005930",) == stale


def test_symbol_traded_recently_is_fresh() -> None:
    """A trade 0.8 s before the strike keeps the symbol on the socket."""
    projector = Projector()
    for event in numbered([SCALP.started(at(0), scheduled=at(0)), frame(TRADE, 0.2)]):
        projector.feed(event)
    stale = projector.stale_symbols(["005930"], as_of=at(1), stale_after=dt.timedelta(seconds=5))
    assert () == stale


def test_symbol_stays_on_rest_until_the_socket_has_something_newer() -> None:
    """After a fallback, old socket state is stale until a frame newer than the strike."""
    projector = Projector()
    events = [
        SCALP.started(at(0), scheduled=at(0)),
        frame(TRADE, 0.2),
        SCALP.struck(at(1), second=at(1), symbols=("005930",), fallback=("005930",)),
    ]
    for event in numbered(events):
        projector.feed(event)
    stale = projector.stale_symbols(["005930"], as_of=at(2), stale_after=dt.timedelta(seconds=5))
    assert ("005930",) == stale


def test_outstanding_lists_each_missing_observation_of_an_open_cycle() -> None:
    """A swing cycle that has received nothing yet waits for each of its symbols once."""
    projector = Projector()
    events = numbered(swing_cycle(MULTI_CLEAN, (*SYMBOLS, "035720"))[:1])
    for event in events:
        projector.feed(event)
    assert ("000660", "005930", "035720", "247540") == projector.outstanding("swing-1")


def test_trade_frame_with_a_5000_digit_volume_is_a_counted_ws_rejection() -> None:
    """A number too long for int() is one counted ws rejection, not a crash of the feed."""
    values = TRADE.split("|", 3)[3].split("^")
    values[13] = "9" * 5000
    projector = Projector()
    projector.feed(frame("0|H0STCNT0|001|" + "^".join(values), 0.5))
    assert 1 == projector.ws_rejections
