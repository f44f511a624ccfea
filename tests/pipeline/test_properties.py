"""Properties the pipeline could break: round trips, key-order independence, determinism,
conservation of the books."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from pipeline import (
    LEDGER_DECODER,
    RAW_DECODER,
    SNAPSHOT_DECODER,
    Admitted,
    CycleLedger,
    Deduplicated,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    Pipeline,
    Source,
    encode,
    loss_rate,
)
from tests.pipeline.helpers import AT_10, DAY
from tests.strategies import ledger_entries, raw_events, snapshots, valid_snapshots

POOL = ("005930", "000660", "035420")

# ---------------------------------------------------------------- (a) round trips


@given(snapshots())
def test_snapshot_encode_decode_is_identity(s: ObservationSnapshot) -> None:
    """decode(encode(s)) == s, and re-encoding gives the same bytes."""
    data = encode(s)
    back = SNAPSHOT_DECODER.decode(data)
    assert (s, data) == (back, encode(back))


@given(raw_events())
def test_raw_event_encode_decode_is_identity(event: Any) -> None:
    """Every raw-journal record kind survives a round trip through its tagged union."""
    data = encode(event)
    back = RAW_DECODER.decode(data)
    assert (event, data) == (back, encode(back))


@given(ledger_entries())
def test_ledger_entry_encode_decode_is_identity(entry: LedgerEntry) -> None:
    """Ledger entries survive a round trip byte for byte."""
    data = encode(entry)
    back = LEDGER_DECODER.decode(data)
    assert (entry, data) == (back, encode(back))


@given(
    st.lists(
        valid_snapshots(symbol=POOL, mode=Mode.SWING, trading_day=DAY, cycle_id="c"), max_size=8
    )
)
def test_enriched_snapshots_round_trip(snaps: list[ObservationSnapshot]) -> None:
    """What the pipeline admits (with its enrichment floats and times) round-trips exactly."""
    pipeline = fresh_pipeline("c", Mode.SWING)
    admitted = [o.snapshot for o in map(pipeline.process, snaps) if isinstance(o, Admitted)]
    assert admitted == [SNAPSHOT_DECODER.decode(encode(s)) for s in admitted]


# ---------------------------------------------------------------- (b) key order


@given(snapshots(), st.randoms(use_true_random=False))
def test_snapshot_json_with_keys_in_any_order_reencodes_identically(
    s: ObservationSnapshot, rnd: Any
) -> None:
    """Decoding a snapshot whose JSON keys (and nested keys) are shuffled gives the same bytes."""

    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    canonical = encode(s)
    permuted = json.dumps(shuffled(json.loads(canonical)), ensure_ascii=False).encode()
    assert canonical == encode(SNAPSHOT_DECODER.decode(permuted))


counts = st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.integers(0, 99))


@given(counts, counts, st.randoms(use_true_random=False))
def test_ledger_count_dicts_in_any_insertion_order_encode_identically(
    rejected: dict[str, int], lost: dict[str, int], rnd: Any
) -> None:
    """The same counts inserted in another order give the same entry bytes."""

    def reordered(d: dict[str, int]) -> dict[str, int]:
        items = list(d.items())
        rnd.shuffle(items)
        return dict(items)

    def entry(rejected: dict[str, int], lost: dict[str, int]) -> LedgerEntry:
        return LedgerEntry(
            cycle_id="c",
            mode=Mode.SWING,
            source=Source.KIS_REST,
            environment=Environment.SIM,
            trading_day=DAY,
            started_at=AT_10,
            ended_at=AT_10,
            rejected=rejected,
            lost_by_symbol=lost,
        )

    assert encode(entry(rejected, lost)) == encode(entry(reordered(rejected), reordered(lost)))


# ---------------------------------------------------------------- (c) determinism


def fresh_pipeline(cycle_id: str, mode: Mode, symbols: tuple[str, ...] = POOL) -> Pipeline:
    pipeline = Pipeline()
    pipeline.begin_cycle(
        cycle_id,
        mode=mode,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10,
        symbols=symbols,
    )
    return pipeline


def spoil(s: ObservationSnapshot, how: int) -> ObservationSnapshot:
    """A bad variant of a good snapshot: one of several Validation failures."""
    assert s.last is not None
    changes: list[dict[str, Any]] = [
        {"last": -s.last},
        {"volume": "many"},
        {"bid": (s.ask or 1) + 1_000_000},
        {"symbol": "XYZ"},
        {"last": None},
    ]
    return msgspec.structs.replace(s, **changes[how % len(changes)])


step = st.one_of(
    st.tuples(st.just("good"), valid_snapshots(symbol=POOL, trading_day=DAY, cycle_id="c")),
    st.tuples(
        st.just("bad"),
        st.tuples(valid_snapshots(symbol=POOL, trading_day=DAY, cycle_id="c"), st.integers(0, 4)),
    ),
    st.tuples(st.just("again"), st.none()),
    st.tuples(st.just("fail"), st.sampled_from(POOL)),
)


def run(steps: list[tuple[str, Any]], mode: Mode) -> tuple[list[bytes], CycleLedger, LedgerEntry]:
    """Drive one fresh pipeline through ``steps``; the outcomes' bytes, books and entry."""
    pipeline = fresh_pipeline("c", mode)
    books = pipeline.ledger("c")
    out: list[bytes] = []
    last: ObservationSnapshot | None = None
    for kind, arg in steps:
        if kind == "fail":
            if books.outstanding(arg) > 0:
                books.fail(FailureCause.TIMEOUT, [arg])
            continue
        if kind == "good":
            s = msgspec.structs.replace(arg, mode=mode)
        elif kind == "bad":
            s = spoil(msgspec.structs.replace(arg[0], mode=mode), arg[1])
        elif last is None:
            continue
        else:
            s = last
        last = s
        outcome = pipeline.process(s)
        out.append(type(outcome).__name__.encode() + b" " + encode(outcome.snapshot))
    return out, books, pipeline.end_cycle("c", AT_10)


@given(st.lists(step, max_size=25), st.sampled_from(Mode))
def test_same_events_through_fresh_pipelines_give_identical_bytes(
    steps: list[tuple[str, Any]], mode: Mode
) -> None:
    """Two fresh pipelines fed the same steps agree on every outcome and entry, byte for byte."""
    out_a, _, entry_a = run(steps, mode)
    out_b, _, entry_b = run(steps, mode)
    assert (out_a, encode(entry_a)) == (out_b, encode(entry_b))


# ---------------------------------------------------------------- (d) conservation


@given(st.lists(step, max_size=40), st.sampled_from(Mode))
def test_books_balance_for_any_mix_of_observations(
    steps: list[tuple[str, Any]], mode: Mode
) -> None:
    """expected = archived + deduplicated + rejected + dropped + failed, whatever came."""
    _, _, entry = run(steps, mode)
    accounted = (
        entry.archived
        + entry.deduplicated
        + sum(entry.rejected.values())
        + sum(entry.dropped.values())
        + sum(entry.failed.values())
    )
    assert entry.expected == accounted


@given(st.lists(step, max_size=40), st.sampled_from(Mode))
def test_loss_rate_matches_the_counts(steps: list[tuple[str, Any]], mode: Mode) -> None:
    """loss_rate = (rejected + dropped + failed) / expected = Σ lost_by_symbol / expected."""
    _, _, entry = run(steps, mode)
    lost = sum(entry.rejected.values()) + sum(entry.dropped.values()) + sum(entry.failed.values())
    expected_rate = lost / entry.expected if entry.expected else 0.0
    assert (expected_rate, lost) == (loss_rate(entry), sum(entry.lost_by_symbol.values()))


@given(st.lists(step, max_size=40), st.sampled_from(Mode))
def test_received_counts_every_processed_observation(
    steps: list[tuple[str, Any]], mode: Mode
) -> None:
    """received = one per process() call; deduplicated ones included."""
    out, _, entry = run(steps, mode)
    dedups = sum(1 for line in out if line.startswith(b"Deduplicated "))
    assert (len(out), dedups) == (entry.received, entry.deduplicated)


@given(
    st.lists(st.tuples(st.sampled_from(POOL), st.integers(0, 3)), max_size=30),
    st.randoms(use_true_random=False),
)
def test_ledger_entry_does_not_depend_on_booking_order(
    marks: list[tuple[str, int]], rnd: Any
) -> None:
    """The same outcomes booked in another order give the same entry bytes."""
    from pipeline import Dropped, DropReason, Rejected, RejectReason
    from tests.pipeline.helpers import snap

    def outcome(symbol: str, kind: int) -> Any:
        s = snap(symbol=symbol)
        return [
            Admitted(s),
            Deduplicated(s, s),
            Rejected(s, RejectReason.CROSSED_QUOTE, "$.bid", ""),
            Dropped(s, DropReason.JUMP, "$.last", ""),
        ][kind]

    def entry(order: list[tuple[str, int]]) -> bytes:
        books = CycleLedger(
            "c",
            mode=Mode.SWING,
            source=Source.KIS_REST,
            environment=Environment.SIM,
            trading_day=DAY,
            started_at=AT_10,
            symbols=POOL,
        )
        for symbol, kind in order:
            books.record(outcome(symbol, kind))
        return encode(books.close(AT_10))

    shuffled = list(marks)
    rnd.shuffle(shuffled)
    assert entry(marks) == entry(shuffled)
