"""The runner's fast path (``_admit_plain``) decides exactly as the general path would."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import (
    KST,
    Admitted,
    Deduplicated,
    Environment,
    Lineage,
    Market,
    Mode,
    ObservationSnapshot,
    Pipeline,
    Source,
    SymbolState,
    encode,
)
from pipeline._stages import _admit_plain, _derive
from tests.pipeline.helpers import AT_10, CONFIG, DAY, snap
from tests.strategies import valid_snapshots

try:
    from pipeline._fast import admit_plain as _compiled
except ImportError:  # built without a C compiler: the Python function alone
    _compiled = None  # type: ignore[assignment]

NOT_BUILT = pytest.mark.skipif(_compiled is None, reason="pipeline._fast was not built")
#: the runner's fast path, each way it exists: the specification and its compiled twin
IMPLEMENTATIONS = [
    pytest.param(_admit_plain, id="python"),
    pytest.param(_compiled, id="compiled", marks=NOT_BUILT),
]
POOL = ("005930", "000660", "035420")


class _Int(int):
    pass


class _Tuple(tuple):  # type: ignore[type-arg]
    pass


class _Datetime(dt.datetime):
    pass


#: one field replaced by a value of a wrong (or unusual but valid) type or sign
ODDITIES: list[tuple[str, Any]] = [
    ("last", True),
    ("last", 70_000.0),
    ("open", _Int(69_000)),
    ("prev_close", 0),
    ("high", None),  # no trade yet today (a halted stock): last and limits, no high or low
    ("low", None),
    ("prev_close", 1_000),  # an ex-date or a listing day: the band is not around prev_close
    ("prev_close", 10_000_000),
    ("volume", True),
    ("bid_size", -1),
    ("seq", True),
    ("symbol", Market.KOSPI),
    ("mode", "swing"),
    ("trading_day", dt.datetime(2026, 1, 5)),
    ("exchange_time", dt.datetime(2026, 1, 5, 10, 0)),
    ("exchange_time", dt.datetime(2026, 1, 5, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Seoul"))),
    ("exchange_time", _Datetime(2026, 1, 5, 10, 0, tzinfo=KST)),
    ("receive_time", dt.datetime(2026, 1, 5, 1, 0, 1)),
    ("receive_time", _Datetime(2026, 1, 5, 1, 0, 1, tzinfo=dt.UTC)),
    ("receive_time", dt.datetime(2026, 1, 5, 10, 0, 1, tzinfo=KST)),
    ("change_rate_pct", float("nan")),
    ("change_rate_pct", 1),
    ("vi_active", 1),
    ("hour_cls_code", Market.KOSPI),
    ("bid_prices", _Tuple()),
    ("bid_prices", []),
    ("ask_sizes", (1,)),
    ("enrichment", "x"),
    ("lineage", Lineage(raw_mode=Mode.SWING, raw_source=Source.KIS_REST, raw_seqs=(1, True))),  # type: ignore[arg-type]
    ("lineage", Lineage(raw_mode=Mode.SWING, raw_source=Source.KIS_REST, raw_seqs=(1, 2))),
    # ints past a C long long, valid and not (the compiled path must not overflow)
    ("volume", 2**70),
    ("turnover", -(2**70)),
    ("bid_size", 2**63),
    ("upper_limit", 2**64),
    ("vi_ref_price", 2**63 - 1),
]

#: fields scaled by "huge": prices past the compiled path's exact arithmetic, still valid
PRICE_FIELDS = (
    "last", "open", "high", "low", "prev_close", "upper_limit", "lower_limit", "bid", "ask",
)  # fmt: skip

#: a scalp snapshot from the socket: no daily limits (one or both absent), a trade and a book
#: frame in its lineage; then perhaps a price pushed out of its range
DROPS = [("upper_limit",), ("lower_limit",), ("upper_limit", "lower_limit")]
SKEWS: list[tuple[str, Any] | None] = [
    None,
    ("low", lambda s: s.last + 1),
    ("high", lambda s: s.last - 1),
    ("low", lambda s: 0),
    ("lower_limit", lambda s: s.low + 1),
    ("lower_limit", lambda s: 0),
    ("upper_limit", lambda s: s.high - 1),
    ("prev_close", lambda s: s.prev_close * 2),  # JUMP decides when a limit is unknown
]


def socket_like(good: ObservationSnapshot, drop: tuple[str, ...], skew: Any) -> dict[str, Any]:
    """The fields that make ``good`` look like a snapshot folded from the socket."""
    assert good.lineage is not None
    seqs = (*good.lineage.raw_seqs, good.seq + 1)
    changes: dict[str, Any] = dict.fromkeys(drop)
    changes["lineage"] = msgspec.structs.replace(good.lineage, raw_seqs=seqs)
    if skew is not None:
        field, value = skew
        changes[field] = value(good)
    return changes


step = st.one_of(
    st.tuples(st.just("good"), valid_snapshots(symbol=POOL, trading_day=DAY, cycle_id="c")),
    st.tuples(
        st.just("socket"),
        st.tuples(
            valid_snapshots(symbol=POOL, trading_day=DAY, cycle_id="c"),
            st.sampled_from(DROPS),
            st.sampled_from(SKEWS),
        ),
    ),
    st.tuples(
        st.just("odd"),
        st.tuples(
            valid_snapshots(symbol=POOL, trading_day=DAY, cycle_id="c"),
            st.sampled_from(ODDITIES),
        ),
    ),
    st.tuples(
        st.just("huge"),
        st.tuples(
            valid_snapshots(symbol=POOL, trading_day=DAY, cycle_id="c"),
            st.sampled_from([10**6, 10**7, 2**40]),
        ),
    ),
    st.tuples(st.just("again"), st.none()),
)


def scaled(good: ObservationSnapshot, factor: int) -> dict[str, Any]:
    """Every price of ``good`` times ``factor`` (the same snapshot on a bigger scale)."""
    return {f: getattr(good, f) * factor for f in PRICE_FIELDS if getattr(good, f) is not None}


def fresh(mode: Mode) -> Pipeline:
    pipeline = Pipeline()
    pipeline.begin_cycle(
        "c",
        mode=mode,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY,
        started_at=AT_10,
        symbols=POOL,
    )
    return pipeline


def described(outcome: Any, given: ObservationSnapshot) -> tuple[Any, ...]:
    """Everything an outcome says, comparable across two pipelines."""
    if type(outcome) is Admitted:
        return (Admitted, encode(outcome.snapshot))
    if type(outcome) is Deduplicated:
        return (Deduplicated, outcome.snapshot is given, encode(outcome.duplicate_of))
    return (type(outcome), outcome.snapshot is given, outcome.reason, outcome.path, outcome.detail)


def made(
    kind: str, arg: Any, mode: Mode, last: ObservationSnapshot | None
) -> ObservationSnapshot | None:
    """The snapshot a step of ``step`` or ``socket_step`` stands for (``None``: nothing to
    repeat yet)."""
    if kind == "good":
        return msgspec.structs.replace(arg, mode=mode)
    if kind == "socket":
        good, drop, skew = arg
        return msgspec.structs.replace(good, mode=mode, **socket_like(good, drop, skew))
    if kind == "odd":
        good, (field, value) = arg
        return msgspec.structs.replace(good, **{"mode": mode, field: value})
    if kind == "huge":
        good, factor = arg
        return msgspec.structs.replace(good, mode=mode, **scaled(good, factor))
    if last is None:
        return None
    if kind == "requote":  # same trade, the book moved: not a duplicate
        return msgspec.structs.replace(last, bid_size=(last.bid_size or 0) + 1)
    return last


def stepped(steps: list[tuple[str, Any]], mode: Mode) -> Iterator[ObservationSnapshot]:
    """The snapshots ``steps`` stand for, in order."""
    last: ObservationSnapshot | None = None
    for kind, arg in steps:
        s = made(kind, arg, mode, last)
        if s is not None:
            last = s
            yield s


def both_paths(steps: list[tuple[str, Any]], mode: Mode) -> tuple[Any, Any]:
    """Run ``steps`` through ``process`` (fast path first) and the general path alone:
    what each said, its folded states and its ledger entry."""
    fast, general = fresh(mode), fresh(mode)
    seen_fast: list[tuple[Any, ...]] = []
    seen_general: list[tuple[Any, ...]] = []
    for s in stepped(steps, mode):
        seen_fast.append(described(fast.process(s), s))
        seen_general.append(described(general._process(s, general.ledger("c")), s))
    states = [
        (p.state(symbol, mode) or None) and encode(p.state(symbol, mode))
        for p in (fast, general)
        for symbol in POOL
    ]
    entries = [encode(p.end_cycle("c", AT_10)) for p in (fast, general)]
    return (seen_fast, states[:3], entries[0]), (seen_general, states[3:], entries[1])


@given(st.lists(step, max_size=30), st.sampled_from(Mode))
def test_fast_and_general_paths_agree_on_every_outcome(
    steps: list[tuple[str, Any]], mode: Mode
) -> None:
    """``process`` (fast path first) and the general path alone: same outcomes, books, states."""
    fast, general = both_paths(steps, mode)
    assert fast == general


socket_step = st.one_of(
    st.tuples(
        st.just("socket"),
        st.tuples(
            valid_snapshots(symbol=POOL[0], trading_day=DAY, cycle_id="c"),
            st.sampled_from(DROPS),
            st.sampled_from(SKEWS),
        ),
    ),
    st.tuples(st.sampled_from(["again", "requote"]), st.none()),
)


@given(st.lists(socket_step, min_size=2, max_size=12), st.sampled_from(Mode))
def test_fast_and_general_paths_agree_on_socket_snapshots(
    steps: list[tuple[str, Any]], mode: Mode
) -> None:
    """One symbol, snapshots shaped like the socket's (limits absent, two raw frames, prices
    pushed out of range, repeats, a moved book): the fast path decides as the stages do."""
    fast, general = both_paths(steps, mode)
    assert fast == general


@pytest.mark.parametrize("admit", IMPLEMENTATIONS)
def test_a_plain_snapshot_takes_the_fast_path(admit: Any) -> None:
    """The helpers' good snapshot, its symbol once matched, is admitted in one pass."""
    d = _derive(CONFIG)
    s = snap()
    d.symbols_seen.add(s.symbol)
    assert True is (admit(s, None, d) is not None)


@pytest.mark.parametrize("admit", IMPLEMENTATIONS)
def test_a_print_inside_the_band_far_from_prev_close_takes_the_fast_path(admit: Any) -> None:
    """Listing day (band 6,000-40,000 around an offer of 10,000), last 25,000: admitted in
    one pass, as the stages admit it."""
    d = _derive(CONFIG)
    s = snap(
        prev_close=10_000,
        last=25_000,
        open=25_000,
        high=25_000,
        low=25_000,
        upper_limit=40_000,
        lower_limit=6_000,
        bid=None,
        ask=None,
    )
    d.symbols_seen.add(s.symbol)
    assert True is (admit(s, None, d) is not None)


@pytest.mark.parametrize("admit", IMPLEMENTATIONS)
def test_a_socket_snapshot_and_its_repeat_take_the_fast_path(admit: Any) -> None:
    """No daily limits and two raw frames: admitted in one pass; the same again is a
    duplicate decided in one pass too (a quiet scalp second)."""
    d = _derive(CONFIG)
    s = msgspec.structs.replace(snap(), **socket_like(snap(), DROPS[2], None))
    d.symbols_seen.add(s.symbol)
    first = admit(s, None, d)
    assert isinstance(first, tuple)
    again = admit(s, SymbolState(first[0], (first[1],)), d)
    assert (Deduplicated, first[0]) == (type(again), getattr(again, "duplicate_of", None))


def said(result: Any) -> Any:
    """What a fast path said, comparable across the two implementations."""
    if result is None:
        return None
    if type(result) is Deduplicated:
        return (Deduplicated, encode(result.snapshot), encode(result.duplicate_of))
    enriched, instant = result
    return (encode(enriched), instant)


@NOT_BUILT
@given(st.lists(step, max_size=30), st.sampled_from(Mode))
def test_the_compiled_fast_path_says_what_the_python_one_says(
    steps: list[tuple[str, Any]], mode: Mode
) -> None:
    """Every step of a mix of good, socket-shaped, odd, huge and repeated snapshots, given
    the state the runner folded so far: the compiled function returns what the Python one
    (its specification) returns, ``None`` included."""
    pipeline = fresh(mode)
    tracks = pipeline._scalp if mode is Mode.SCALP else pipeline._swing
    python: list[Any] = []
    compiled: list[Any] = []
    for s in stepped(steps, mode):
        track = tracks.get(s.symbol) if isinstance(s.symbol, str) else None
        python.append(said(_admit_plain(s, track, pipeline._derived)))
        compiled.append(said(_compiled(s, track, pipeline._derived)))
        pipeline.process(s)
    assert python == compiled


@NOT_BUILT
def test_the_runner_uses_the_compiled_fast_path_when_it_is_built() -> None:
    """With ``pipeline._fast`` built, ``Pipeline.process`` calls it, not the Python one."""
    from pipeline import _pipeline

    assert _compiled is _pipeline._admit


@NOT_BUILT
def test_the_compiled_fast_path_is_not_older_than_its_source() -> None:
    """A ``_fast.pyx`` edited or pulled without a rebuild fails here, instead of the runner
    quietly calling the old code (rebuild: ``pip install -e .``)."""
    import pipeline._fast

    built = Path(pipeline._fast.__file__)
    source = built.with_name("_fast.pyx")
    if not source.exists():
        pytest.skip("an installed package: no source beside the extension")
    assert True is (built.stat().st_mtime >= source.stat().st_mtime), f"stale {built.name}"
