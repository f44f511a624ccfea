"""Validation → Guard → Enrichment: three pure functions with one call shape.

Each stage is ``stage(snapshot, state, config) -> Outcome`` where ``state`` is the
``SymbolState`` folded from the earlier *admitted* snapshots of the same (symbol, mode), or
``None`` before the first. A stage reads nothing else: no clock, no randomness, no
environment, no dict or set iteration order. It never mutates its inputs; the fold is a
separate step, ``fold(state, admitted, config) -> SymbolState``, that the caller (the
``Pipeline`` runner) applies after an ``Admitted`` outcome and only then.

- ``validate``: is it well-formed and plausible? ``Admitted`` or ``Rejected`` (reads no state;
  it takes ``state`` for the common shape).
- ``guard``: should a valid snapshot be admitted? ``Admitted``, ``Deduplicated`` or
  ``Dropped``. Expects a snapshot that passed ``validate``.
- ``enrich``: ``Admitted`` with the snapshot's ``enrichment`` filled in.

Time arithmetic is integer microseconds on the KST calendar (days and time of day since
1970-01-01 00:00 KST), so there is no float rounding and no dependence on the host zone.
Derived floats are each one IEEE division of exact integers (correctly rounded, the same
bits everywhere), optionally ``round(x, digits)`` on top (``EnrichmentConfig``).

Speed: the runner computes the clock and the phase once per snapshot and calls the private
``_check`` / ``_guard`` / ``_enrich`` / ``_fold`` that the public stages wrap. Validation
first runs ``_plain``, an unrolled exact-type-and-sign check; only a snapshot it does not
pass goes through ``_explain_fields``, which finds the first bad field and says where.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Final, Protocol

import msgspec

from ._config import ModeGuardConfig, PipelineConfig
from ._model import (
    KST,
    Enrichment,
    Environment,
    Lineage,
    Market,
    Mode,
    ObservationSnapshot,
    SessionPhase,
    Source,
)
from ._outcome import (
    Admitted,
    Deduplicated,
    Dropped,
    DropReason,
    Rejected,
    RejectReason,
)
from ._ticks import _BOUNDS, _TICKS

__all__ = [
    "CONTENT_FIELDS",
    "SymbolState",
    "enrich",
    "fold",
    "guard",
    "same_content",
    "session_phase",
    "validate",
]

_UTC: Final = dt.UTC
_DAY_US: Final = 86_400_000_000
_US: Final = dt.timedelta(microseconds=1)
_KST_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=KST)  # day 0, 00:00 KST
_EPOCH_ORDINAL: Final = _KST_EPOCH.toordinal()
_MAX_ORDINAL: Final = dt.date.max.toordinal()
_NONE_TYPE: Final = type(None)


class SymbolState(msgspec.Struct, frozen=True, gc=False):
    """The fold of the admitted snapshots of one (symbol, mode).

    ``last_admitted`` is the most recent admitted (enriched) snapshot; ``recent`` holds the
    burst-clock instants (µs since 1970-01-01 00:00 KST) of the most recent admissions,
    at most ``burst_max`` of them, oldest first.
    """

    last_admitted: ObservationSnapshot
    recent: tuple[int, ...] = ()


class _Folded(Protocol):
    """What the stages read of a state: a ``SymbolState`` or the runner's mutable twin."""

    @property
    def last_admitted(self) -> ObservationSnapshot: ...

    @property
    def recent(self) -> Sequence[int]: ...


# ---------------------------------------------------------------- derived config

_UTC_KST_EPOCH: Final = _KST_EPOCH.astimezone(_UTC)
_KST_EPOCH_BY_TZ: dict[dt.tzinfo, dt.datetime] = {
    KST: _KST_EPOCH,
    _UTC: _KST_EPOCH.astimezone(_UTC),
}


def _since_kst_epoch(t: dt.datetime) -> dt.timedelta:
    """``t - 1970-01-01T00:00+09:00``, exact, taking the same-tzinfo fast path when it can."""
    tz = t.tzinfo
    if type(tz) is dt.timezone:  # fixed offset: subtracting an epoch in the same tz is exact
        epoch = _KST_EPOCH_BY_TZ.get(tz)
        if epoch is None:
            if len(_KST_EPOCH_BY_TZ) > 64:  # bounded: a handful of offsets exist in practice
                _KST_EPOCH_BY_TZ.clear()
                _KST_EPOCH_BY_TZ[KST] = _KST_EPOCH
            epoch = _KST_EPOCH_BY_TZ[tz] = _KST_EPOCH.astimezone(tz)
        return t - epoch
    # aware minus aware in another zone: exact (offsets applied as timedeltas), and unlike
    # ``t.astimezone(KST)`` it builds no datetime, so no OverflowError at datetime's edges
    return t - _KST_EPOCH


def _clock(snap: ObservationSnapshot) -> tuple[int, int, int]:
    """(KST day number, KST time of day µs, receive - exchange µs) of a validated snapshot."""
    t = snap.exchange_time
    x = t - _KST_EPOCH if t.tzinfo is KST else _since_kst_epoch(t)
    t = snap.receive_time
    r = t - _UTC_KST_EPOCH if t.tzinfo is _UTC else _since_kst_epoch(t)
    day = x.days
    tod = x.seconds * 1_000_000 + x.microseconds
    return day, tod, (r.days - day) * _DAY_US + r.seconds * 1_000_000 + r.microseconds - tod


def _kst_date_text(day: int) -> str:
    """KST day number ``day`` as an ISO date, or which side of datetime's range it is on."""
    ordinal = day + _EPOCH_ORDINAL
    if ordinal < 1:
        return "before 0001-01-01"
    if ordinal > _MAX_ORDINAL:
        return "after 9999-12-31"
    return dt.date.fromordinal(ordinal).isoformat()


def _tod_text(tod: int) -> str:
    """A KST time of day in µs, as ``str(datetime.time)`` writes it."""
    seconds, micros = divmod(tod, 1_000_000)
    return str(dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, micros))


def _ms_text(us: int) -> str:
    """µs as exact milliseconds (300000400 → "300000.4"): a lag just over a whole-ms limit
    is never floored onto it in a message."""
    ms, rest = divmod(us, 1000)
    return f"{ms}.{rest:03d}".rstrip("0") if rest else str(ms)


def _tod_us(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


class _ModeLimits:
    __slots__ = ("burst_max", "burst_on_exchange", "burst_window_us", "max_lead_us", "max_stale_us")

    def __init__(self, m: ModeGuardConfig) -> None:
        self.max_stale_us = m.max_staleness_ms * 1_000
        self.max_lead_us = m.max_lead_ms * 1_000
        self.burst_max = m.burst_max
        self.burst_window_us = m.burst_window_ms * 1_000
        self.burst_on_exchange = m.burst_on_exchange_time


class _Derived:
    """Everything the stages precompute from one ``PipelineConfig``."""

    __slots__ = (
        "clock_memo",
        "closed",
        "day_end_us",
        "day_start_us",
        "fast_ok",
        "jump_bps",
        "phase_starts",
        "phases",
        "plain_sig",
        "required",
        "return_digits",
        "scalp",
        "spread_digits",
        "swing",
        "symbol_match",
        "symbols_seen",
    )

    def __init__(self, config: PipelineConfig) -> None:
        v = config.validation
        self.symbol_match: Callable[[str], re.Match[str] | None] = re.compile(
            v.symbol_pattern
        ).fullmatch
        self.symbols_seen: set[str] = set()
        self.required = v.required
        self.day_start_us = _tod_us(v.day_start)
        self.day_end_us = _tod_us(v.day_end)
        self.phase_starts = [_tod_us(p.start) for p in config.phases]
        self.phases = (SessionPhase.CLOSED, *(p.phase for p in config.phases))
        g = config.guard
        self.closed = tuple(phase in g.closed_phases for phase in self.phases)
        self.jump_bps = g.max_jump_bps
        self.swing = _ModeLimits(g.swing)
        self.scalp = _ModeLimits(g.scalp)
        self.spread_digits = config.enrichment.spread_bps_digits
        self.return_digits = config.enrichment.return_digits
        # ``_admit_plain`` requires these three prices anyway (its range check needs them),
        # so it covers any ``required`` among them; other settings take the general path
        self.fast_ok = set(v.required) <= {"last", "high", "low"}
        # (exchange time, trading day, day, tod, phase) of the last exchange time (with a
        # fixed-offset tzinfo) that passed the trading-day checks: a pure cache, since REST
        # and WS quotes carry whole seconds and runs of snapshots share one exchange time
        self.clock_memo: tuple[object, object, int, int, int] = (None, None, 0, 0, 0)
        # the field classes (``_admit_plain``'s signature) of the last plain snapshot
        self.plain_sig: tuple[type, ...] = ()


_DERIVED: dict[int, tuple[PipelineConfig, _Derived]] = {}


def _derive(config: PipelineConfig) -> _Derived:
    """The precomputed form of ``config`` (cached by identity; configs are frozen)."""
    hit = _DERIVED.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    derived = _Derived(config)
    if len(_DERIVED) > 16:
        _DERIVED.clear()
    _DERIVED[id(config)] = (config, derived)
    return derived


def _phase_at(d: _Derived, tod: int) -> SessionPhase:
    return d.phases[bisect_right(d.phase_starts, tod)]


def session_phase(exchange_time: dt.datetime, config: PipelineConfig) -> SessionPhase:
    """The KRX session phase of an aware exchange time (by its KST time of day).

    Raises ``ValueError`` for a naive time: read in the host's zone, it would give another
    phase on every machine.
    """
    if exchange_time.utcoffset() is None:
        raise ValueError(f"exchange time {exchange_time.isoformat()} has no UTC offset")
    x = _since_kst_epoch(exchange_time)
    return _phase_at(_derive(config), x.seconds * 1_000_000 + x.microseconds)


# ---------------------------------------------------------------- Validation

_FIELDS: Final = ObservationSnapshot.__struct_fields__
_FIELD_INDEX: Final = {name: i for i, name in enumerate(_FIELDS)}


def _indices(*names: str) -> tuple[tuple[int, str], ...]:
    return tuple((_FIELD_INDEX[n], n) for n in names)


# (index, name) groups, in the order they are checked
_IDENTITY: Final = (
    ("schema_version", int),
    ("seq", int),
    ("symbol", str),
    ("market", Market),
    ("mode", Mode),
    ("source", Source),
    ("environment", Environment),
    ("trading_day", dt.date),
    ("exchange_time", dt.datetime),
    ("receive_time", dt.datetime),
    ("cycle_id", str),
)
_IDENTITY_IDX: Final = tuple((_FIELD_INDEX[n], n, t) for n, t in _IDENTITY)
_PRICES: Final = _indices(
    "last", "open", "high", "low", "prev_close", "upper_limit", "lower_limit", "bid", "ask",
    "vi_ref_price",
)  # fmt: skip
_QUANTITIES: Final = _indices("volume", "turnover", "bid_size", "ask_size")
_CHANGE: Final = _FIELD_INDEX["change"]
_CHANGE_RATE: Final = _FIELD_INDEX["change_rate_pct"]
_BOOLS: Final = _indices("vi_active", "halted")
_STRS: Final = _indices("hour_cls_code", "status_code")
_DEPTH: Final = (
    (_FIELD_INDEX["bid_prices"], "bid_prices", _FIELD_INDEX["bid_sizes"], "bid_sizes"),
    (_FIELD_INDEX["ask_prices"], "ask_prices", _FIELD_INDEX["ask_sizes"], "ask_sizes"),
)
_BID_PRICES, _BID_SIZES = _DEPTH[0][0], _DEPTH[0][2]
_ASK_PRICES, _ASK_SIZES = _DEPTH[1][0], _DEPTH[1][2]
_EMPTY: Final = ()  # CPython has one empty tuple: `x is _EMPTY` is an exact-type check too
_ENRICHMENT: Final = _FIELD_INDEX["enrichment"]
_LINEAGE: Final = _FIELD_INDEX["lineage"]

_astuple: Final = msgspec.structs.astuple


def _type_name(t: type) -> str:
    return {dt.datetime: "datetime", dt.date: "date", _NONE_TYPE: "null"}.get(t, t.__name__)


def _wrong_type(snap: ObservationSnapshot, path: str, expected: str, value: object) -> Rejected:
    got = _type_name(type(value))
    return Rejected(
        snap,
        RejectReason.WRONG_TYPE,
        path,
        f"Expected `{expected}`, got `{got}` - at `{path}`",
    )


def _reject(snap: ObservationSnapshot, reason: RejectReason, path: str, what: str) -> Rejected:
    return Rejected(snap, reason, path, f"{what} - at `{path}`")


def _is_naive(t: dt.datetime) -> bool:
    tz = t.tzinfo
    return tz is None or (type(tz) is not dt.timezone and t.utcoffset() is None)


def _check_lineage(snap: ObservationSnapshot, lineage: object) -> Rejected | None:
    if type(lineage) is not Lineage:
        return _wrong_type(snap, "$.lineage", "Lineage | null", lineage)
    for name, expected in (("raw_mode", Mode), ("raw_source", Source), ("record_index", int)):
        value = getattr(lineage, name)
        if type(value) is not expected:
            return _wrong_type(snap, f"$.lineage.{name}", expected.__name__, value)
    seqs = lineage.raw_seqs
    if type(seqs) is not tuple:
        return _wrong_type(snap, "$.lineage.raw_seqs", "array", seqs)
    for i, seq in enumerate(seqs):
        if type(seq) is not int:
            return _wrong_type(snap, f"$.lineage.raw_seqs[{i}]", "int", seq)
    return None


def _check_depth(snap: ObservationSnapshot, values: tuple[object, ...]) -> Rejected | None:
    for pi, pname, si, sname in _DEPTH:
        prices = values[pi]
        sizes = values[si]
        if type(prices) is not tuple:
            return _wrong_type(snap, f"$.{pname}", "array", prices)
        if type(sizes) is not tuple:
            return _wrong_type(snap, f"$.{sname}", "array", sizes)
        for i, p in enumerate(prices):
            if type(p) is not int:
                return _wrong_type(snap, f"$.{pname}[{i}]", "int", p)
            if p <= 0:
                return _reject(
                    snap, RejectReason.NON_POSITIVE_PRICE, f"$.{pname}[{i}]", f"{p} <= 0"
                )
        for i, q in enumerate(sizes):
            if type(q) is not int:
                return _wrong_type(snap, f"$.{sname}[{i}]", "int", q)
            if q < 0:
                return _reject(snap, RejectReason.NEGATIVE_QUANTITY, f"$.{sname}[{i}]", f"{q} < 0")
        if len(prices) != len(sizes):
            return _reject(
                snap,
                RejectReason.MALFORMED_DEPTH,
                f"$.{sname}",
                f"{len(sizes)} sizes for {len(prices)} prices",
            )
    return None


_datetime: Final = dt.datetime
_date: Final = dt.date
_timezone: Final = dt.timezone


def _plain(s: ObservationSnapshot) -> bool:
    """Fast path: every field has exactly its type and sign. ``False`` means: look closer.

    Must never pass a snapshot that ``_explain_fields`` would reject (a property test
    checks the two agree); it may send a good one to the slow path (e.g. a ZoneInfo tz).
    """
    if not (
        s.schema_version.__class__ is int
        and s.seq.__class__ is int
        and s.symbol.__class__ is str
        and s.market.__class__ is Market
        and s.mode.__class__ is Mode
        and s.source.__class__ is Source
        and s.environment.__class__ is Environment
        and s.trading_day.__class__ is _date
        and s.cycle_id.__class__ is str
        and s.exchange_time.__class__ is _datetime
        and s.receive_time.__class__ is _datetime
        and s.exchange_time.tzinfo.__class__ is _timezone
        and s.receive_time.tzinfo.__class__ is _timezone
    ):
        return False
    # prices: None or int > 0 (bool is not int: `x.__class__ is int` excludes it)
    v = s.last
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.open
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.high
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.low
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.prev_close
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.upper_limit
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.lower_limit
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.bid
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.ask
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    v = s.vi_ref_price
    if v is not None and (v.__class__ is not int or v <= 0):
        return False
    # quantities: None or int >= 0
    v = s.volume
    if v is not None and (v.__class__ is not int or v < 0):
        return False
    v = s.turnover
    if v is not None and (v.__class__ is not int or v < 0):
        return False
    v = s.bid_size
    if v is not None and (v.__class__ is not int or v < 0):
        return False
    v = s.ask_size
    if v is not None and (v.__class__ is not int or v < 0):
        return False
    v = s.change
    if v is not None and v.__class__ is not int:
        return False
    f = s.change_rate_pct
    if f is not None and (f.__class__ is not float or f - f != 0.0):  # NaN and ±inf fail
        return False
    b = s.vi_active
    if b is not None and b.__class__ is not bool:
        return False
    b = s.halted
    if b is not None and b.__class__ is not bool:
        return False
    t = s.hour_cls_code
    if t is not None and t.__class__ is not str:
        return False
    t = s.status_code
    if t is not None and t.__class__ is not str:
        return False
    e = s.enrichment
    if e is not None and e.__class__ is not Enrichment:
        return False
    lineage = s.lineage
    if lineage is not None:
        if lineage.__class__ is not Lineage:
            return False
        seqs = lineage.raw_seqs
        if not (
            lineage.raw_mode.__class__ is Mode
            and lineage.raw_source.__class__ is Source
            and lineage.record_index.__class__ is int
            and seqs.__class__ is tuple
            and _seqs_plain(seqs)
        ):
            return False
    bid_prices, bid_sizes = s.bid_prices, s.bid_sizes
    ask_prices, ask_sizes = s.ask_prices, s.ask_sizes
    # identity, not ==: an empty tuple *subclass* equals () but is not a tuple to the slow path
    if (
        bid_prices is _EMPTY
        and bid_sizes is _EMPTY
        and ask_prices is _EMPTY
        and ask_sizes is _EMPTY
    ):
        return True
    return _depth_plain(bid_prices, bid_sizes) and _depth_plain(ask_prices, ask_sizes)


_ONLY_INT: Final = frozenset({int})


def _open_band(low: int, last: int, high: int, lower: int | None, upper: int | None) -> bool:
    """``0 < low <= last <= high`` inside whichever daily limit is present (``_admit_plain``
    with a limit absent: its signature has made the three prices ints)."""
    return (
        0 < low <= last <= high
        and (lower is None or 0 < lower <= low)
        and (upper is None or high <= upper)
    )


def _seqs_plain(seqs: tuple[object, ...]) -> bool:
    """Raw seqs all ints: one (a REST row, a lone WS frame) or several (a scalp snapshot
    folds a trade and an orderbook frame), or none."""
    return _ONLY_INT.issuperset(map(type, seqs))


def _depth_plain(prices: object, sizes: object) -> bool:
    """One side of the book: tuples of equal length, int prices > 0, int sizes >= 0."""
    if type(prices) is not tuple or type(sizes) is not tuple:
        return False
    if len(prices) != len(sizes):
        return False
    if not prices:
        return True
    return (
        _ONLY_INT.issuperset(map(type, prices))
        and _ONLY_INT.issuperset(map(type, sizes))
        and min(prices) > 0
        and min(sizes) >= 0
    )


def _explain_fields(snap: ObservationSnapshot) -> Rejected | None:
    """Slow path: the first field with a wrong type, sign or shape, as a ``Rejected``."""
    values = _astuple(snap)
    for i, name, expected in _IDENTITY_IDX:
        value = values[i]
        if type(value) is not expected:
            return _wrong_type(snap, f"$.{name}", _type_name(expected), value)
    if _is_naive(snap.exchange_time):
        return _reject(snap, RejectReason.NAIVE_TIMESTAMP, "$.exchange_time", "no UTC offset")
    if _is_naive(snap.receive_time):
        return _reject(snap, RejectReason.NAIVE_TIMESTAMP, "$.receive_time", "no UTC offset")
    for i, name in _PRICES:
        value = values[i]
        if value is not None:
            if value.__class__ is not int:
                return _wrong_type(snap, f"$.{name}", "int | null", value)
            if value <= 0:
                return _reject(snap, RejectReason.NON_POSITIVE_PRICE, f"$.{name}", f"{value} <= 0")
    for i, name in _QUANTITIES:
        value = values[i]
        if value is not None:
            if value.__class__ is not int:
                return _wrong_type(snap, f"$.{name}", "int | null", value)
            if value < 0:
                return _reject(snap, RejectReason.NEGATIVE_QUANTITY, f"$.{name}", f"{value} < 0")
    value = values[_CHANGE]
    if value is not None and value.__class__ is not int:
        return _wrong_type(snap, "$.change", "int | null", value)
    rate = values[_CHANGE_RATE]
    if rate is not None:
        if rate.__class__ is not float:
            return _wrong_type(snap, "$.change_rate_pct", "float | null", rate)
        if not math.isfinite(rate):
            return _reject(
                snap, RejectReason.NOT_FINITE, "$.change_rate_pct", f"{rate} is not finite"
            )
    for i, name in _BOOLS:
        value = values[i]
        if value is not None and value.__class__ is not bool:
            return _wrong_type(snap, f"$.{name}", "bool | null", value)
    for i, name in _STRS:
        value = values[i]
        if value is not None and value.__class__ is not str:
            return _wrong_type(snap, f"$.{name}", "str | null", value)
    value = values[_ENRICHMENT]
    if value is not None and value.__class__ is not Enrichment:
        return _wrong_type(snap, "$.enrichment", "Enrichment | null", value)
    value = values[_LINEAGE]
    if value is not None and (bad := _check_lineage(snap, value)) is not None:
        return bad
    return _check_depth(snap, values)


def _check(snap: ObservationSnapshot, d: _Derived) -> Rejected | tuple[int, int, int]:
    """Validation proper: a ``Rejected``, or the snapshot's clock (see ``_clock``)."""
    if not _plain(snap):
        bad = _explain_fields(snap)
        if bad is not None:
            return bad
    symbol = snap.symbol
    if symbol not in d.symbols_seen:  # memo of the pattern match: same answer, no regex
        if d.symbol_match(symbol) is None:
            return _reject(
                snap, RejectReason.BAD_SYMBOL, "$.symbol", f"{symbol!r} does not match the pattern"
            )
        if len(d.symbols_seen) < 100_000:
            d.symbols_seen.add(symbol)
    for name in d.required:
        if getattr(snap, name) is None:
            return _reject(snap, RejectReason.MISSING_FIELD, f"$.{name}", "required, got null")

    last, high, low = snap.last, snap.high, snap.low
    lower, upper = snap.lower_limit, snap.upper_limit
    if None in (lower, low, last, high, upper) or not lower <= low <= last <= high <= upper:  # type: ignore[operator]
        bad = _check_ranges(snap, last, high, low, lower, upper)
        if bad is not None:
            return bad
    bid, ask = snap.bid, snap.ask
    if bid is not None and ask is not None and bid > ask:
        return _reject(snap, RejectReason.CROSSED_QUOTE, "$.bid", f"bid {bid} > ask {ask}")

    clock = _clock(snap)
    day, tod, _lag = clock
    if day != snap.trading_day.toordinal() - _EPOCH_ORDINAL:
        return _reject(
            snap,
            RejectReason.OUTSIDE_TRADING_DAY,
            "$.exchange_time",
            f"KST date {_kst_date_text(day)} is not the trading day {snap.trading_day}",
        )
    if tod < d.day_start_us or tod > d.day_end_us:
        return _reject(
            snap,
            RejectReason.OUTSIDE_TRADING_DAY,
            "$.exchange_time",
            f"KST time {_tod_text(tod)} is outside the trading day",
        )
    return clock


def _check_ranges(
    snap: ObservationSnapshot,
    last: int | None,
    high: int | None,
    low: int | None,
    lower: int | None,
    upper: int | None,
) -> Rejected | None:
    """low <= last <= high, then everything inside [lower_limit, upper_limit]."""
    if low is not None and high is not None and low > high:
        return _reject(snap, RejectReason.OUTSIDE_DAY_RANGE, "$.low", f"low {low} > high {high}")
    if last is not None:
        if low is not None and last < low:
            return _reject(
                snap, RejectReason.OUTSIDE_DAY_RANGE, "$.last", f"last {last} < low {low}"
            )
        if high is not None and last > high:
            return _reject(
                snap, RejectReason.OUTSIDE_DAY_RANGE, "$.last", f"last {last} > high {high}"
            )
    if lower is not None or upper is not None:
        return _check_limits(snap, lower, upper)
    return None


def _check_limits(
    snap: ObservationSnapshot, lower: int | None, upper: int | None
) -> Rejected | None:
    if lower is not None and upper is not None and lower > upper:
        return _reject(
            snap,
            RejectReason.OUTSIDE_LIMITS,
            "$.lower_limit",
            f"lower limit {lower} > upper limit {upper}",
        )
    for name in ("last", "low", "high"):
        value: int | None = getattr(snap, name)
        if value is None:
            continue
        if lower is not None and value < lower:
            return _reject(
                snap, RejectReason.OUTSIDE_LIMITS, f"$.{name}", f"{value} < lower limit {lower}"
            )
        if upper is not None and value > upper:
            return _reject(
                snap, RejectReason.OUTSIDE_LIMITS, f"$.{name}", f"{value} > upper limit {upper}"
            )
    return None


def validate(
    snapshot: ObservationSnapshot, state: SymbolState | None, config: PipelineConfig
) -> Admitted | Rejected:
    """Validation: well-formed and plausible, or ``Rejected`` with reason, path and detail.

    Checks, in order (the first failure is reported): field types (a Struct built in code is
    not type-checked by msgspec, so nothing is trusted), timezone-aware timestamps, the
    symbol pattern, prices > 0, sizes and volumes >= 0, finite floats, depth arrays,
    required fields, low <= last <= high, the daily limit band, bid <= ask, and an
    exchange time on the trading day (KST) within [day_start, day_end]. Reads no state.
    """
    checked = _check(snapshot, _derive(config))
    return checked if type(checked) is Rejected else Admitted(snapshot)


# ---------------------------------------------------------------- Guard

#: The market content two snapshots must share to be duplicates: everything except the
#: key (symbol, mode), the channel (source), bookkeeping (schema_version, seq, cycle_id,
#: receive_time, lineage) and what the pipeline derives (enrichment).
CONTENT_FIELDS: Final = tuple(
    name
    for name in _FIELDS
    if name
    not in {
        "schema_version",
        "seq",
        "symbol",
        "mode",
        "source",
        "cycle_id",
        "receive_time",
        "enrichment",
        "lineage",
    }
)


_content: Final = operator.attrgetter(*CONTENT_FIELDS)


def same_content(a: ObservationSnapshot, b: ObservationSnapshot) -> bool:
    """Do two snapshots carry the same market content (``CONTENT_FIELDS``)?"""
    if a.last != b.last or a.volume != b.volume:  # the usual differences, cheap to see
        return False
    return bool(_content(a) == _content(b))


def _guard(
    snap: ObservationSnapshot,
    state: _Folded | None,
    d: _Derived,
    m: _ModeLimits,
    phase: int,
    lag: int,
    instant: int,
    band: tuple[int, int] | None = None,
) -> Dropped | Deduplicated | None:
    if state is not None:
        prev = state.last_admitted
        if same_content(prev, snap):
            return Deduplicated(snap, prev)
    if lag > m.max_stale_us:
        return Dropped(
            snap,
            DropReason.STALE,
            "$.exchange_time",
            f"received {_ms_text(lag)} ms after the exchange time, limit "
            f"{_ms_text(m.max_stale_us)} ms - at `$.exchange_time`",
        )
    if -lag > m.max_lead_us:
        return Dropped(
            snap,
            DropReason.CLOCK_SKEW,
            "$.exchange_time",
            f"exchange time {_ms_text(-lag)} ms after the receive time, limit "
            f"{_ms_text(m.max_lead_us)} ms - at `$.exchange_time`",
        )
    if d.closed[phase]:
        return Dropped(
            snap,
            DropReason.OUT_OF_SESSION,
            "$.exchange_time",
            f"session phase {d.phases[phase]} - at `$.exchange_time`",
        )
    last = snap.last
    if last is None or (snap.lower_limit is not None and snap.upper_limit is not None):
        pass  # with both limits, the exchange's own band decides (Validation checked it)
    elif band is not None:  # the day's band an earlier snapshot of the symbol carried
        if not band[0] <= last <= band[1]:
            return Dropped(
                snap,
                DropReason.JUMP,
                "$.last",
                f"last {last} is outside the day's band [{band[0]}, {band[1]}] known from "
                "the symbol's daily limits - at `$.last`",
            )
    else:  # no band known (the socket's trades before any quote): ±30 %
        ref = snap.prev_close
        ref_name = "prev_close"
        if ref is None and state is not None:
            ref = state.last_admitted.last
            ref_name = "previous admitted last"
        if ref and abs(last - ref) * 10_000 > ref * d.jump_bps:
            return Dropped(
                snap,
                DropReason.JUMP,
                "$.last",
                f"last {last} is beyond ±{d.jump_bps / 100:g} % of {ref_name} {ref} - at `$.last`",
            )
    n = m.burst_max
    if n and state is not None:
        recent = state.recent
        if len(recent) >= n and instant - recent[-n] < m.burst_window_us:
            return Dropped(
                snap,
                DropReason.BURST,
                "$.receive_time" if not m.burst_on_exchange else "$.exchange_time",
                f"more than {n} admitted within {m.burst_window_us // 1000} ms - at "
                f"`{'$.exchange_time' if m.burst_on_exchange else '$.receive_time'}`",
            )
    return None


def _instant(m: _ModeLimits, day: int, tod: int, lag: int) -> int:
    exchange = day * _DAY_US + tod
    return exchange if m.burst_on_exchange else exchange + lag


def guard(
    snapshot: ObservationSnapshot,
    state: SymbolState | None,
    config: PipelineConfig,
    *,
    band: tuple[int, int] | None = None,
) -> Admitted | Dropped | Deduplicated:
    """Guard: admit a validated snapshot, or drop it (loss), or deduplicate it (not loss).

    In order: an exact duplicate of the last admitted snapshot of the (symbol, mode) in
    ``CONTENT_FIELDS`` → ``Deduplicated`` (checked first: a quiet symbol re-observed is
    not stale, it is the same observation); ``receive - exchange`` above the mode's limit
    → STALE, or below minus ``max_lead_ms`` → CLOCK_SKEW; a closed session phase →
    OUT_OF_SESSION; ``last`` beyond ``max_jump_bps`` of prev_close (else of the previous
    admitted last) → JUMP, unless both daily limits are known; more than ``burst_max``
    admitted in ``burst_window_ms`` → BURST.

    Why the limits win over JUMP: KRX sets the day's band around the *base price*, which is
    the previous close on most days, and then ±30 % of it is the band itself. On an ex-rights,
    bonus-issue or split date the base is not the previous close (a 1:1 bonus issue halves
    it), and on a listing day the band is 60-400 % of the offer price: a print inside the
    exchange's own ``[lower_limit, upper_limit]``, which Validation has checked, is a real
    print whatever its distance from prev_close. JUMP stays for snapshots that carry no band
    (the socket's trade records), where a garbled price has nothing else to catch it.

    ``band``: the symbol's ``(lower_limit, upper_limit)`` of this trading day when an earlier
    admitted snapshot of it (of either mode: the swing quote, a REST fallback) carried both,
    for a snapshot that carries none (``Pipeline`` folds it). Then the band decides instead
    of ±30 %: a socket trade 2.6x its base on a listing day (band 60-400 % of the offer
    price) is admitted, one beyond the day's upper limit is a JUMP however near prev_close.
    """
    d = _derive(config)
    day, tod, lag = _clock(snapshot)
    m = d.scalp if snapshot.mode is Mode.SCALP else d.swing
    phase = bisect_right(d.phase_starts, tod)
    out = _guard(snapshot, state, d, m, phase, lag, _instant(m, day, tod, lag), band)
    return Admitted(snapshot) if out is None else out


# ---------------------------------------------------------------- Enrichment


def _enrich(
    snap: ObservationSnapshot, state: _Folded | None, d: _Derived, phase: int, lag: int
) -> ObservationSnapshot:
    bid, ask, last = snap.bid, snap.ask, snap.last
    mid: float | None = None
    spread_bps: float | None = None
    if bid is not None and ask is not None:
        total = bid + ask
        mid = total / 2
        spread_bps = (ask - bid) * 20_000 / total  # one correctly rounded division
        if d.spread_digits is not None:
            spread_bps = round(spread_bps, d.spread_digits)
    ret: float | None = None
    prev_time: dt.datetime | None = None
    if state is not None:
        prev = state.last_admitted
        prev_time = prev.exchange_time
        prev_last = prev.last
        if last is not None and prev_last:
            ret = (last - prev_last) / prev_last
            if d.return_digits is not None:
                ret = round(ret, d.return_digits)
    conforming: bool | None = None
    if last is not None:  # on_tick, inlined: prices here are validated ints > 0
        conforming = (
            last % _TICKS[bisect_right(_BOUNDS, last)] == 0
            and (bid is None or bid % _TICKS[bisect_right(_BOUNDS, bid)] == 0)
            and (ask is None or ask % _TICKS[bisect_right(_BOUNDS, ask)] == 0)
        )
    enrichment = Enrichment(
        session_phase=d.phases[phase],
        staleness_ms=lag // 1000,
        mid=mid,
        spread_bps=spread_bps,
        return_since_prev=ret,
        prev_exchange_time=prev_time,
        tick_conforming=conforming,
    )
    return msgspec.structs.replace(snap, enrichment=enrichment)


def enrich(
    snapshot: ObservationSnapshot, state: SymbolState | None, config: PipelineConfig
) -> Admitted:
    """Enrichment: ``Admitted`` with ``enrichment`` computed from this snapshot and ``state``.

    ``mid = (bid + ask) / 2``; ``spread_bps = (ask - bid) / mid * 10⁴``; ``return_since_prev
    = last / previous admitted last - 1`` (same symbol and mode); the KST session phase;
    ``staleness_ms = receive - exchange`` (floored; negative when the exchange clock leads);
    ``tick_conforming``: last, bid and ask on the KRX stock tick grid. Absent inputs give
    ``None``. Expects a snapshot that passed ``validate``.
    """
    d = _derive(config)
    _day, tod, lag = _clock(snapshot)
    return Admitted(_enrich(snapshot, state, d, bisect_right(d.phase_starts, tod), lag))


# ---------------------------------------------------------------- fold


def _fold(
    state: SymbolState | None, admitted: ObservationSnapshot, n: int, instant: int
) -> SymbolState:
    if n == 0 or state is None:
        recent: tuple[int, ...] = (instant,) if n else ()
    elif n == 1:
        recent = (instant,)
    else:
        old = state.recent
        recent = (*old[1:], instant) if len(old) >= n else (*old, instant)
    return SymbolState(admitted, recent)


def fold(
    state: SymbolState | None, admitted: ObservationSnapshot, config: PipelineConfig
) -> SymbolState:
    """The state after ``admitted`` (an ``Admitted`` snapshot of this symbol and mode)."""
    d = _derive(config)
    day, tod, lag = _clock(admitted)
    m = d.scalp if admitted.mode is Mode.SCALP else d.swing
    return _fold(state, admitted, m.burst_max, _instant(m, day, tod, lag))


# ---------------------------------------------------------------- the runner's fast path

_SCALP: Final = Mode.SCALP
_replace: Final = msgspec.structs.replace
_INT: Final = frozenset({int})
_INT_OR_NONE: Final = frozenset({int, _NONE_TYPE})

#: The fields of ``_admit_plain``'s type signature, in its order, with the classes it takes
#: (``None`` fields as ``NoneType``). Everything but the depth arrays, checked apart. The
#: three prices of the range check must be present; the limits may be absent (the socket's
#: trade record does not carry them).
_SIGNATURE: Final[tuple[tuple[str, frozenset[type]], ...]] = (
    ("schema_version", _INT),
    ("seq", _INT),
    ("symbol", frozenset({str})),
    ("market", frozenset({Market})),
    ("mode", frozenset({Mode})),
    ("source", frozenset({Source})),
    ("environment", frozenset({Environment})),
    ("trading_day", frozenset({_date})),
    ("exchange_time", frozenset({_datetime})),
    ("receive_time", frozenset({_datetime})),
    ("cycle_id", frozenset({str})),
    ("last", _INT),
    ("open", _INT_OR_NONE),
    ("high", _INT),
    ("low", _INT),
    ("prev_close", _INT_OR_NONE),
    ("upper_limit", _INT_OR_NONE),
    ("lower_limit", _INT_OR_NONE),
    ("change", _INT_OR_NONE),
    ("change_rate_pct", frozenset({float, _NONE_TYPE})),
    ("volume", _INT_OR_NONE),
    ("turnover", _INT_OR_NONE),
    ("bid", _INT_OR_NONE),
    ("ask", _INT_OR_NONE),
    ("bid_size", _INT_OR_NONE),
    ("ask_size", _INT_OR_NONE),
    ("vi_active", frozenset({bool, _NONE_TYPE})),
    ("vi_ref_price", _INT_OR_NONE),
    ("halted", frozenset({bool, _NONE_TYPE})),
    ("hour_cls_code", frozenset({str, _NONE_TYPE})),
    ("status_code", frozenset({str, _NONE_TYPE})),
    ("enrichment", frozenset({Enrichment, _NONE_TYPE})),
    ("lineage", frozenset({Lineage, _NONE_TYPE})),
)


def _plain_signature(sig: tuple[type, ...]) -> bool:
    """Does every class of ``sig`` fit its field (``_SIGNATURE``)?"""
    return len(sig) == len(_SIGNATURE) and all(
        cls in allowed for cls, (_name, allowed) in zip(sig, _SIGNATURE, strict=True)
    )


def _admit_plain(
    s: ObservationSnapshot, state: _Folded | None, d: _Derived
) -> tuple[ObservationSnapshot, int] | Deduplicated | None:
    """Validation → Guard → Enrichment in one pass, for the common case only.

    Returns ``(enriched snapshot, burst instant)`` when the three stages would admit ``s``
    given ``state``, with exactly what ``_enrich`` would produce; ``Deduplicated`` for a
    valid snapshot with the content of the last admitted one (a quiet scalp second);
    ``None`` when it is not sure (anything unusual, or any other rule that would not
    admit): the runner then takes the general path (``_check``, ``_guard``, ``_enrich``),
    which decides and says why. So it may pass over a good snapshot, never decide
    otherwise than the stages (a property test compares the two paths). Pure like the
    stages; ``d`` caches answers of pure functions.

    Why it is faster than the stages one by one (a Python-level operation is the unit of
    cost here): one call instead of six; each field read once; the types checked as one
    tuple of classes compared with the last plain one (``d.plain_sig``), the signs and
    ranges then on plain ints; ``lower_limit <= low <= last <= high <= upper_limit`` with
    ``0 < lower_limit`` proves those five prices positive (``_open_band`` when a limit is
    absent, as in a scalp snapshot from the socket); the exchange time's day, time
    of day and phase reused while it equals the previous one (``d.clock_memo``).

    ``pipeline/_fast.pyx`` is this function compiled, and the runner calls that one when it
    is built. A change here is a change there: a property test compares the two.
    """
    if not d.fast_ok:
        return None
    trading_day = s.trading_day
    exchange_time = s.exchange_time
    receive_time = s.receive_time
    last = s.last
    high = s.high
    low = s.low
    prev_close = s.prev_close
    upper_limit = s.upper_limit
    lower_limit = s.lower_limit
    change_rate_pct = s.change_rate_pct
    volume = s.volume
    turnover = s.turnover
    bid = s.bid
    ask = s.ask
    bid_size = s.bid_size
    ask_size = s.ask_size
    vi_ref_price = s.vi_ref_price
    lineage = s.lineage
    sig = (  # same order as _SIGNATURE (a test reads it from here)
        s.schema_version.__class__,
        s.seq.__class__,
        s.symbol.__class__,
        s.market.__class__,
        s.mode.__class__,
        s.source.__class__,
        s.environment.__class__,
        trading_day.__class__,
        exchange_time.__class__,
        receive_time.__class__,
        s.cycle_id.__class__,
        last.__class__,
        s.open.__class__,
        high.__class__,
        low.__class__,
        prev_close.__class__,
        upper_limit.__class__,
        lower_limit.__class__,
        s.change.__class__,
        change_rate_pct.__class__,
        volume.__class__,
        turnover.__class__,
        bid.__class__,
        ask.__class__,
        bid_size.__class__,
        ask_size.__class__,
        s.vi_active.__class__,
        vi_ref_price.__class__,
        s.halted.__class__,
        s.hour_cls_code.__class__,
        s.status_code.__class__,
        s.enrichment.__class__,
        lineage.__class__,
    )
    if sig != d.plain_sig:
        if not _plain_signature(sig):
            return None
        d.plain_sig = sig
    # the types are plain: signs and ranges compare ints (and one float)
    if not (
        (
            0 < lower_limit <= low <= last <= high <= upper_limit  # type: ignore[operator]
            if lower_limit is not None and upper_limit is not None
            else _open_band(low, last, high, lower_limit, upper_limit)  # type: ignore[arg-type]
        )
        and (bid is None or bid > 0)
        and (ask is None or ask > 0)
        and (bid is None or ask is None or bid <= ask)
        and ((v := s.open) is None or v > 0)
        and (prev_close is None or prev_close > 0)
        and (vi_ref_price is None or vi_ref_price > 0)
        and (volume is None or volume >= 0)
        and (turnover is None or turnover >= 0)
        and (bid_size is None or bid_size >= 0)
        and (ask_size is None or ask_size >= 0)
        and (change_rate_pct is None or change_rate_pct - change_rate_pct == 0.0)  # finite
        and s.symbol in d.symbols_seen  # matched the pattern before
    ):
        return None
    if not (
        s.bid_prices is _EMPTY
        and s.bid_sizes is _EMPTY
        and s.ask_prices is _EMPTY
        and s.ask_sizes is _EMPTY
    ) and not (_depth_plain(s.bid_prices, s.bid_sizes) and _depth_plain(s.ask_prices, s.ask_sizes)):
        return None
    if lineage is not None:
        seqs = lineage.raw_seqs
        if not (
            lineage.raw_mode.__class__ is Mode
            and lineage.raw_source.__class__ is Source
            and lineage.record_index.__class__ is int
            and seqs.__class__ is tuple
            # (a lone int seq, the usual case, without a call)
            and ((len(seqs) == 1 and seqs[0].__class__ is int) or _seqs_plain(seqs))
        ):
            return None

    # the clock: KST day number, time of day (µs) and phase of the exchange time
    memo_x, memo_trading_day, day, tod, phase = d.clock_memo
    if not (trading_day is memo_trading_day and exchange_time == memo_x):
        # (an equal aware datetime is the same instant: the same KST day and time)
        if exchange_time.tzinfo.__class__ is not _timezone:
            return None  # naive, or a zone with folds: the general path knows
        since = _since_kst_epoch(exchange_time)
        day = since.days
        tod = since.seconds * 1_000_000 + since.microseconds
        if (
            day != trading_day.toordinal() - _EPOCH_ORDINAL
            or tod < d.day_start_us
            or tod > d.day_end_us
        ):
            return None
        phase = bisect_right(d.phase_starts, tod)
        d.clock_memo = (exchange_time, trading_day, day, tod, phase)
    try:  # same tzinfo (UTC): no utcoffset calls; a naive time raises
        since = receive_time - _UTC_KST_EPOCH
    except TypeError:
        return None
    exchange = day * _DAY_US + tod
    lag = since.days * _DAY_US + since.seconds * 1_000_000 + since.microseconds - exchange

    # Guard
    assert last is not None  # for the type checker: the signature says int
    m = d.scalp if s.mode is _SCALP else d.swing
    if lag > m.max_stale_us or -lag > m.max_lead_us or d.closed[phase]:
        return None
    instant = exchange if m.burst_on_exchange else exchange + lag
    ref = prev_close
    prev_time = ret = None
    if state is not None:
        prev = state.last_admitted
        prev_last = prev.last
        if prev_last == last and prev.volume == volume and _content(prev) == _content(s):
            # valid (all of Validation is behind us), and Guard's first rule: `same_content`
            return Deduplicated(s, prev)
        n = m.burst_max
        if n:
            recent = state.recent
            if len(recent) >= n and instant - recent[-n] < m.burst_window_us:
                return None
        if ref is None:
            ref = prev_last
        prev_time = prev.exchange_time
        if prev_last:
            ret = (last - prev_last) / prev_last
            if d.return_digits is not None:
                ret = round(ret, d.return_digits)
    if (
        ref
        and (lower_limit is None or upper_limit is None)  # both: Validation checked the band
        and abs(last - ref) * 10_000 > ref * d.jump_bps
    ):
        return None

    # Enrichment: the same arithmetic as `_enrich`
    band = bisect_right(_BOUNDS, last)
    tick = _TICKS[band]
    conforming = last % tick == 0
    mid = spread_bps = None
    if bid is not None and ask is not None:
        if conforming:
            if _BAND_FLOORS[band] <= bid and ask < _BAND_CEILINGS[band]:  # one tick size
                conforming = bid % tick == 0 and ask % tick == 0
            else:
                conforming = (
                    bid % _TICKS[bisect_right(_BOUNDS, bid)] == 0
                    and ask % _TICKS[bisect_right(_BOUNDS, ask)] == 0
                )
        total = bid + ask
        mid = total / 2
        spread_bps = (ask - bid) * 20_000 / total
        if d.spread_digits is not None:
            spread_bps = round(spread_bps, d.spread_digits)
    elif conforming:
        quote = bid if ask is None else ask
        conforming = quote is None or quote % _TICKS[bisect_right(_BOUNDS, quote)] == 0
    enrichment = Enrichment(
        session_phase=d.phases[phase],
        staleness_ms=lag // 1000,
        mid=mid,
        spread_bps=spread_bps,
        return_since_prev=ret,
        prev_exchange_time=prev_time,
        tick_conforming=conforming,
    )
    return _replace(s, enrichment=enrichment), instant


# the price band of each tick size: [floor, ceiling)
_BAND_FLOORS: Final = (0, *_BOUNDS)
_BAND_CEILINGS: Final = (*_BOUNDS, 1 << 63)
