# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=False
"""The runner's fast path (``_stages._admit_plain``) compiled: the same decision in C.

``admit_plain(s, state, d)`` returns exactly what ``pipeline._stages._admit_plain`` returns
for the same arguments: ``(enriched snapshot, burst instant)``, ``Deduplicated``, or
``None`` when it is not sure (the runner then takes the general path, which decides and
says why). The Python function is the specification; a property test runs both on the
same mixes of good, odd and bad snapshots and compares them with the general path.

Why it is faster: the Python fast path is about 300 bytecodes of reads, class checks and
small-int comparisons, and on CPython 3.11 the dispatch of each costs more than the work.
Here the fields come out of one ``msgspec.structs.astuple`` call and are checked with C
type checks and C integer comparisons. Anything out of the ordinary is left to Python,
never decided differently: a price that does not fit the exact C arithmetic (above
``_MAX_PRICE``), a rounding setting, depth arrays, a miss of the clock memo, a duplicate.

Installing without a C compiler skips this module: ``pipeline._pipeline`` then uses the
Python function, which decides the same, more slowly.
"""

from cpython.datetime cimport (
    import_datetime,
    timedelta_days,
    timedelta_microseconds,
    timedelta_seconds,
)
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.unicode cimport PyUnicode_CheckExact
from libc.math cimport isfinite

import datetime as _dt

import msgspec

from . import _stages
from ._model import Enrichment, Environment, Lineage, Market, Mode, ObservationSnapshot, Source
from ._outcome import Deduplicated

import_datetime()

cdef extern from "Python.h":
    int PyBool_Check(object)

# prices and limits above this take the Python path: below it, every sum, difference and
# product below is an exact C integer, and every quotient an exact integer divided by an
# exact integer in double precision (one correctly rounded IEEE division, as Python's)
cdef long long _MAX_PRICE = 100_000_000_000
cdef long long _DAY_US = 86_400_000_000

cdef object _astuple = msgspec.structs.astuple
cdef object _replace = msgspec.structs.replace
cdef object _since_kst_epoch = _stages._since_kst_epoch
cdef object _depth_plain = _stages._depth_plain
cdef object _seqs_plain = _stages._seqs_plain
cdef object _content = _stages._content
cdef object _python = _stages._admit_plain  # the specification: what C leaves, it decides
cdef object _UTC_KST_EPOCH = _stages._UTC_KST_EPOCH
cdef long long _EPOCH_ORDINAL = _stages._EPOCH_ORDINAL
cdef object _SCALP = Mode.SCALP
cdef object _Deduplicated = Deduplicated
cdef object _Enrichment = Enrichment

cdef object _Snapshot = ObservationSnapshot
cdef object _Market = Market
cdef object _Mode = Mode
cdef object _Source = Source
cdef object _Environment = Environment
cdef object _Lineage = Lineage
cdef object _EnrichmentType = Enrichment
cdef object _date = _dt.date
cdef object _datetime = _dt.datetime
cdef object _timezone = _dt.timezone

# the KRX tick table (``_ticks``): band i is [_FLOORS[i], _CEILS[i]) with tick _TICK[i]
cdef long long _BOUND[6]
cdef long long _TICK[7]
cdef Py_ssize_t _k
for _k in range(6):
    _BOUND[_k] = _stages._BOUNDS[_k]
for _k in range(7):
    _TICK[_k] = _stages._TICKS[_k]

# the snapshot's fields by position in ``astuple``
cdef dict _AT = {name: i for i, name in enumerate(ObservationSnapshot.__struct_fields__)}
cdef Py_ssize_t I_SCHEMA = _AT["schema_version"]
cdef Py_ssize_t I_SEQ = _AT["seq"]
cdef Py_ssize_t I_SYMBOL = _AT["symbol"]
cdef Py_ssize_t I_MARKET = _AT["market"]
cdef Py_ssize_t I_MODE = _AT["mode"]
cdef Py_ssize_t I_SOURCE = _AT["source"]
cdef Py_ssize_t I_ENV = _AT["environment"]
cdef Py_ssize_t I_DAY = _AT["trading_day"]
cdef Py_ssize_t I_XT = _AT["exchange_time"]
cdef Py_ssize_t I_RT = _AT["receive_time"]
cdef Py_ssize_t I_CYCLE = _AT["cycle_id"]
cdef Py_ssize_t I_LAST = _AT["last"]
cdef Py_ssize_t I_OPEN = _AT["open"]
cdef Py_ssize_t I_HIGH = _AT["high"]
cdef Py_ssize_t I_LOW = _AT["low"]
cdef Py_ssize_t I_PREV = _AT["prev_close"]
cdef Py_ssize_t I_UPPER = _AT["upper_limit"]
cdef Py_ssize_t I_LOWER = _AT["lower_limit"]
cdef Py_ssize_t I_CHANGE = _AT["change"]
cdef Py_ssize_t I_RATE = _AT["change_rate_pct"]
cdef Py_ssize_t I_VOLUME = _AT["volume"]
cdef Py_ssize_t I_TURNOVER = _AT["turnover"]
cdef Py_ssize_t I_BID = _AT["bid"]
cdef Py_ssize_t I_ASK = _AT["ask"]
cdef Py_ssize_t I_BID_SIZE = _AT["bid_size"]
cdef Py_ssize_t I_ASK_SIZE = _AT["ask_size"]
cdef Py_ssize_t I_BID_PRICES = _AT["bid_prices"]
cdef Py_ssize_t I_BID_SIZES = _AT["bid_sizes"]
cdef Py_ssize_t I_ASK_PRICES = _AT["ask_prices"]
cdef Py_ssize_t I_ASK_SIZES = _AT["ask_sizes"]
cdef Py_ssize_t I_VI = _AT["vi_active"]
cdef Py_ssize_t I_VI_REF = _AT["vi_ref_price"]
cdef Py_ssize_t I_HALTED = _AT["halted"]
cdef Py_ssize_t I_HOUR = _AT["hour_cls_code"]
cdef Py_ssize_t I_STATUS = _AT["status_code"]
cdef Py_ssize_t I_ENRICHMENT = _AT["enrichment"]
cdef Py_ssize_t I_LINEAGE = _AT["lineage"]


cdef inline bint _int_or_none(object v):
    return v is None or PyLong_CheckExact(v)


cdef inline bint _str_or_none(object v):
    return v is None or PyUnicode_CheckExact(v)


cdef inline bint _bool_or_none(object v):
    return v is None or PyBool_Check(v)


cdef inline int _price(object v, long long* out):
    """An exact int in (0, _MAX_PRICE] into ``out``: 1; anything else: 0."""
    cdef int overflow = 0
    cdef long long x
    if not PyLong_CheckExact(v):
        return 0
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow or x <= 0 or x > _MAX_PRICE:
        return 0
    out[0] = x
    return 1


cdef inline int _optional_price(object v, long long* out):
    """0 for ``None``; 1 for an exact int in (0, _MAX_PRICE], into ``out``; -1 otherwise."""
    if v is None:
        return 0
    return 1 if _price(v, out) else -1


cdef inline bint _non_negative(object v):
    """``None``, or an exact int >= 0 (of any size)."""
    cdef int overflow = 0
    cdef long long x
    if v is None:
        return True
    if not PyLong_CheckExact(v):
        return False
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow:
        return overflow > 0
    return x >= 0


cdef inline Py_ssize_t _band(long long price):
    """The tick band of ``price`` (``bisect_right(_BOUNDS, price)``)."""
    cdef Py_ssize_t i = 0
    while i < 6 and _BOUND[i] <= price:
        i += 1
    return i


cdef inline bint _on_tick(long long price):
    return price % _TICK[_band(price)] == 0


cdef class _Limits:
    """One mode's guard limits as C integers (``_stages._ModeLimits``)."""

    cdef long long max_stale_us, max_lead_us, burst_window_us
    cdef Py_ssize_t burst_max
    cdef bint burst_on_exchange

    def __init__(self, m):
        self.max_stale_us = m.max_stale_us
        self.max_lead_us = m.max_lead_us
        self.burst_max = m.burst_max
        self.burst_window_us = m.burst_window_us
        self.burst_on_exchange = m.burst_on_exchange


cdef class _Memo:
    """The clock of the last exchange time that passed the trading-day checks (replaced
    whole, so a reader never sees one field of the old and one of the new)."""

    cdef object exchange_time, trading_day
    cdef long long day, tod
    cdef Py_ssize_t phase

    def __init__(self, exchange_time, trading_day, long long day, long long tod, Py_ssize_t phase):
        self.exchange_time = exchange_time
        self.trading_day = trading_day
        self.day = day
        self.tod = tod
        self.phase = phase


cdef class _Compiled:
    """What ``admit_plain`` reads of one ``_stages._Derived``, as C values, and its memo."""

    cdef object derived
    cdef bint usable
    cdef long long day_start_us, day_end_us, jump_bps
    cdef list phase_starts
    cdef tuple phases
    cdef tuple closed
    cdef set symbols_seen
    cdef _Limits swing, scalp
    cdef _Memo memo

    def __init__(self, d):
        self.derived = d
        self.phase_starts = list(d.phase_starts)
        self.phases = tuple(d.phases)
        self.closed = tuple(d.closed)
        self.symbols_seen = d.symbols_seen  # the same set: Validation adds to it
        self.memo = _Memo(None, None, 0, 0, 0)
        # rounding settings and out-of-range limits take the Python path
        try:
            self.day_start_us = d.day_start_us
            self.day_end_us = d.day_end_us
            self.jump_bps = d.jump_bps
            self.swing = _Limits(d.swing)
            self.scalp = _Limits(d.scalp)
            self.usable = (
                d.fast_ok
                and d.return_digits is None
                and d.spread_digits is None
                and 0 <= self.jump_bps <= 1_000_000
            )
        except OverflowError:
            self.usable = False


cdef _Compiled _last = None


cdef _Compiled _compiled(object d):
    global _last
    if _last is None or _last.derived is not d:
        _last = _Compiled(d)
    return _last


def admit_plain(s, state, d):
    """``_stages._admit_plain(s, state, d)``, compiled (see the module's docstring)."""
    cdef _Compiled c = _compiled(d)
    cdef _Limits m
    cdef _Memo memo
    cdef tuple t
    cdef object v, lineage, seqs, exchange_time, trading_day
    cdef object prev, recent, since, enrichment
    cdef long long last = 0, high = 0, low = 0, lower = 0, upper = 0, bid = 0, ask = 0, ref = 0
    cdef long long prev_last = 0, tmp, day, tod, exchange, lag, instant, total, tick
    cdef int has_lower, has_upper, has_bid, has_ask
    cdef bint has_ref, conforming
    cdef Py_ssize_t phase, band, n, i
    cdef int overflow = 0

    if not c.usable or type(s) is not _Snapshot:
        return _python(s, state, d)
    t = _astuple(s)

    # Validation: the classes of the fields (``_stages._SIGNATURE``)
    if not (
        PyLong_CheckExact(t[I_SCHEMA])
        and PyLong_CheckExact(t[I_SEQ])
        and PyUnicode_CheckExact(t[I_SYMBOL])
        and type(t[I_MARKET]) is _Market
        and type(t[I_MODE]) is _Mode
        and type(t[I_SOURCE]) is _Source
        and type(t[I_ENV]) is _Environment
        and type(t[I_DAY]) is _date
        and type(t[I_XT]) is _datetime
        and type(t[I_RT]) is _datetime
        and PyUnicode_CheckExact(t[I_CYCLE])
        and _int_or_none(t[I_CHANGE])
        and _bool_or_none(t[I_VI])
        and _bool_or_none(t[I_HALTED])
        and _str_or_none(t[I_HOUR])
        and _str_or_none(t[I_STATUS])
        and (t[I_ENRICHMENT] is None or type(t[I_ENRICHMENT]) is _EnrichmentType)
        and (t[I_LINEAGE] is None or type(t[I_LINEAGE]) is _Lineage)
    ):
        return None
    v = t[I_RATE]
    if not (v is None or (PyFloat_CheckExact(v) and isfinite(PyFloat_AS_DOUBLE(v)))):
        return None

    # the prices: ints in range, ordered, inside whichever limits are present (a price that
    # is no int in (0, _MAX_PRICE]: Python decides, this is rare)
    if not (_price(t[I_LAST], &last) and _price(t[I_HIGH], &high) and _price(t[I_LOW], &low)):
        return _python(s, state, d)
    has_lower = _optional_price(t[I_LOWER], &lower)
    has_upper = _optional_price(t[I_UPPER], &upper)
    if has_lower < 0 or has_upper < 0:
        return _python(s, state, d)
    if not (low <= last <= high):
        return None
    if has_lower and lower > low:
        return None
    if has_upper and high > upper:
        return None
    has_bid = _optional_price(t[I_BID], &bid)
    has_ask = _optional_price(t[I_ASK], &ask)
    if has_bid < 0 or has_ask < 0:
        return _python(s, state, d)
    if has_bid and has_ask and bid > ask:
        return None
    v = t[I_OPEN]
    if v is not None and not _price(v, &tmp):
        return _python(s, state, d)
    v = t[I_PREV]
    has_ref = v is not None
    if has_ref and not _price(v, &ref):
        return _python(s, state, d)
    v = t[I_VI_REF]
    if v is not None and not _price(v, &tmp):
        return _python(s, state, d)
    if not (
        _non_negative(t[I_VOLUME])
        and _non_negative(t[I_TURNOVER])
        and _non_negative(t[I_BID_SIZE])
        and _non_negative(t[I_ASK_SIZE])
    ):
        return None
    if t[I_SYMBOL] not in c.symbols_seen:  # matched the pattern before
        return None
    if not (
        t[I_BID_PRICES] is () and t[I_BID_SIZES] is () and t[I_ASK_PRICES] is ()
        and t[I_ASK_SIZES] is ()
    ) and not (
        _depth_plain(t[I_BID_PRICES], t[I_BID_SIZES])
        and _depth_plain(t[I_ASK_PRICES], t[I_ASK_SIZES])
    ):
        return None
    lineage = t[I_LINEAGE]
    if lineage is not None:
        seqs = lineage.raw_seqs
        if not (
            type(lineage.raw_mode) is _Mode
            and type(lineage.raw_source) is _Source
            and PyLong_CheckExact(lineage.record_index)
            and type(seqs) is tuple
            and (
                (len(<tuple>seqs) == 1 and PyLong_CheckExact((<tuple>seqs)[0]))
                or _seqs_plain(seqs)
            )
        ):
            return None

    # the clock: KST day number, time of day (µs) and phase of the exchange time
    exchange_time = t[I_XT]
    trading_day = t[I_DAY]
    memo = c.memo
    if trading_day is memo.trading_day and exchange_time == memo.exchange_time:
        day = memo.day
        tod = memo.tod
        phase = memo.phase
    else:
        if type(exchange_time.tzinfo) is not _timezone:
            return None  # naive, or a zone with folds: the general path knows
        since = _since_kst_epoch(exchange_time)
        day = timedelta_days(since)
        tod = <long long>timedelta_seconds(since) * 1_000_000 + timedelta_microseconds(since)
        if (
            day != <long long>trading_day.toordinal() - _EPOCH_ORDINAL
            or tod < c.day_start_us
            or tod > c.day_end_us
        ):
            return None
        phase = 0
        n = len(c.phase_starts)
        while phase < n and <long long>c.phase_starts[phase] <= tod:
            phase += 1
        c.memo = _Memo(exchange_time, trading_day, day, tod, phase)
    try:  # a naive receive time raises
        since = t[I_RT] - _UTC_KST_EPOCH
    except TypeError:
        return None
    exchange = day * _DAY_US + tod
    tmp = timedelta_days(since)
    if tmp > 4_000_000 or tmp < -4_000_000:
        return None  # (not on this side of the year 10000)
    lag = (
        tmp * _DAY_US
        + <long long>timedelta_seconds(since) * 1_000_000
        + timedelta_microseconds(since)
        - exchange
    )

    # Guard
    m = c.scalp if t[I_MODE] is _SCALP else c.swing
    if lag > m.max_stale_us or -lag > m.max_lead_us or c.closed[phase]:
        return None
    instant = exchange if m.burst_on_exchange else exchange + lag
    prev_time = None
    ret = None
    if state is not None:
        prev = state.last_admitted
        v = prev.last
        # (an admitted snapshot's last is an int in range; any other state: Python decides)
        if not PyLong_CheckExact(v):
            return _python(s, state, d)
        prev_last = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow or prev_last <= 0 or prev_last > _MAX_PRICE:
            return _python(s, state, d)
        if prev_last == last and prev.volume == t[I_VOLUME] and _content(prev) == _content(s):
            # valid (all of Validation is behind us), and Guard's first rule: `same_content`
            return _Deduplicated(s, prev)
        n = m.burst_max
        if n:
            recent = state.recent
            i = len(recent)
            if i >= n and instant - <long long>recent[i - n] < m.burst_window_us:
                return None
        if not has_ref:
            ref = prev_last
            has_ref = True
        prev_time = prev.exchange_time
        ret = <double>(last - prev_last) / <double>prev_last
    if (
        has_ref
        and not (has_lower and has_upper)  # both: Validation checked the band
        and (last - ref if last >= ref else ref - last) * 10_000 > ref * c.jump_bps
    ):
        return None

    # Enrichment: the same arithmetic as `_enrich`
    band = _band(last)
    tick = _TICK[band]
    conforming = last % tick == 0
    mid = None
    spread = None
    if has_bid and has_ask:
        if conforming:
            if (band == 0 or _BOUND[band - 1] <= bid) and (band == 6 or ask < _BOUND[band]):
                conforming = bid % tick == 0 and ask % tick == 0
            else:
                conforming = _on_tick(bid) and _on_tick(ask)
        total = bid + ask
        mid = <double>total / 2.0
        spread = <double>((ask - bid) * 20_000) / <double>total
    elif conforming:
        if has_ask:
            conforming = _on_tick(ask)
        elif has_bid:
            conforming = _on_tick(bid)
    enrichment = _Enrichment(
        session_phase=c.phases[phase],
        staleness_ms=lag // 1000,
        mid=mid,
        spread_bps=spread,
        return_since_prev=ret,
        prev_exchange_time=prev_time,
        tick_conforming=conforming,
    )
    return _replace(s, enrichment=enrichment), instant
