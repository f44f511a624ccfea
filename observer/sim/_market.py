"""The deterministic synthetic KRX market behind the simulator.

Everything is a pure function of ``(seed, symbol, trading day, market second)``:

- the *universe* (codes, names, KOSPI/KOSDAQ, previous close, volatility, liquidity) comes from
  ``seed`` alone; the day's base price drifts by a few percent per trading day;
- a symbol's *fair value* is an integer random walk (milli-KRW) whose increment at second ``s``
  is ``hash(seed, symbol, s)`` (``_rng``), plus rare jumps; the traded price is the fair value
  rounded to the KRX tick grid and clamped to the ±30 % daily limits;
- *trades* arrive per second (a Poisson count drawn from the same hash family), each with its
  own volume and side; the opening auction (09:00:00), the closing auction (15:30:00) and the
  end of every volatility interruption (VI) are single trades;
- a *VI* starts when the fair value moves more than ``vi_threshold_pct`` within
  ``vi_window_s`` seconds during continuous trading; it lasts ``vi_duration_s`` seconds with no
  trades and ends in a single-price trade; its reference price is the last traded price;
- cumulative volume, turnover, buy/sell counts, high/low and their times fold the trades;
- a *halted* symbol (매매거래정지, ``halted``) does not trade all day: it keeps the day's base
  price (the previous close) as its price, no open/high/low, no volume, no VI and an empty
  orderbook that never changes (no orders are taken while trading is suspended).

Because every draw is addressed by a counter and every sum is over integers, the state at
second ``s`` is the same whether it is computed in one pass from 08:30 or block by block, and
whatever was asked before. Work is lazy: a symbol is computed only when asked for, in
``BLOCK_S``-second blocks, from a checkpoint kept at every block boundary (a small tuple), and
recent blocks are cached (bounded LRU). Session seconds run from 08:30:00 (``s = 0``) to the
closing auction at 15:30:00 (``s = CLOSE_S``); after that the day's state is final.

A day with other hours (``SessionHours``: a CSAT day opens at 10:00 and closes at 16:30, the
year's first session opens at 10:00) keeps the shape: second 0 is 30 minutes before its open
(``OPEN_S``), the closing call is its last 10 minutes, and its closing auction is at
``hours.close_s``. The per-second draws stay addressed by the market second, so a day shifted
by an hour has the same prices, an hour later; a shorter day ends earlier.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Concatenate, Final, NamedTuple, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from pipeline import KST

from ._rng import U64, derive_key, hash_u64, mix64, uniform

__all__ = [
    "BLOCK_S",
    "CLOSE_CALL_S",
    "CLOSE_S",
    "INDEX_CODES",
    "OPEN_S",
    "USUAL_HOURS",
    "Book",
    "IndexQuote",
    "Phase",
    "Quote",
    "SessionHours",
    "SimMarket",
    "SymbolInfo",
    "Trade",
    "floor_tick",
    "tick_of",
]

I64 = npt.NDArray[np.int64]

#: on a day with the usual hours (``USUAL_HOURS``), market second 0 is 08:30:00 KST
OPEN_S: Final = 1_800  # 09:00:00 opening auction (30 minutes after second 0 on every day)
CLOSE_CALL_S: Final = 24_600  # 15:20:00 closing call starts (usual hours)
CLOSE_S: Final = 25_200  # 15:30:00 closing auction (usual hours)
_CLOSING_CALL_S: Final = CLOSE_S - CLOSE_CALL_S  # the closing call: the last 10 minutes
BLOCK_S: Final = 300
#: cells (symbols x seconds) computed in one vectorised pass, bounding its memory (~40 B each)
_BATCH_CELLS: Final = 200_000
MAX_TRADES_PER_S: Final = 24
_FAIR_SHIFT: Final = 10  # fair value is held in 1/1024 KRW

_BOUNDS: Final = np.array([2_000, 5_000, 20_000, 50_000, 200_000, 500_000], dtype=np.int64)
_TICKS: Final = np.array([1, 5, 10, 50, 100, 500, 1_000], dtype=np.int64)
_IRWIN_SD2: Final = 75_674  # sd of (2 * sum of four uint16) - 262140, rounded

# hash streams
_S_STATIC, _S_DAY, _S_WALK, _S_JUMP, _S_COUNT, _S_VOL, _S_BOOK, _S_PUSH, _S_INDEX = range(9)


_BOUNDS_T: Final = (2_000, 5_000, 20_000, 50_000, 200_000, 500_000)
_TICKS_T: Final = (1, 5, 10, 50, 100, 500, 1_000)


def tick_of(price: int) -> int:
    """KRX stock tick for ``price`` (scalar; plain Python, ~50x faster than numpy here)."""
    return _TICKS_T[bisect_right(_BOUNDS_T, price)]


def floor_tick(price: int) -> int:
    """Highest grid price ``<= price``."""
    return price - price % tick_of(price)


def _ceil_tick(price: int) -> int:
    tick = tick_of(price)
    return -(-price // tick) * tick


def _round_ticks(x: I64) -> I64:
    """Nearest grid price (half up) for each positive price."""
    ticks = _TICKS[np.searchsorted(_BOUNDS, x, side="right")]
    out: I64 = (x + ticks // 2) // ticks * ticks
    return out


class Phase(NamedTuple):
    """Session phase at a market second: the codes KIS puts on the wire."""

    name: str  # closed | opening_call | continuous | vi | closing_call | post_close
    hour_cls_code: str  # H0STCNT0 #43 / H0STASP0 #2
    new_mkop_cls_code: str  # H0STCNT0 #34
    antc_mkop_cls_code: str  # output2.antc_mkop_cls_code


class SymbolInfo(NamedTuple):
    position: int  # place in the universe (0-based)
    code: str
    name: str
    market: str  # "KOSPI" | "KOSDAQ"
    sector: str
    prev_close: int  # static reference price; the day's base drifts from it
    sigma_q: int  # sd of the per-second fair-value increment, in 1/1024 KRW
    trades_per_s: float
    listed_shares: int
    lot: int


class Trade(NamedTuple):
    """One trade and the cumulative state right after it."""

    second: int
    seq: int  # index of the trade within the day for this symbol
    price: int
    volume: int
    side: int  # 1 buy-initiated, 5 sell-initiated
    acml_vol: int
    acml_tr_pbmn: int
    buy_count: int
    sell_count: int
    buy_qty: int
    sell_qty: int
    high: int
    low: int
    high_s: int
    low_s: int
    open: int
    auction: bool


class Quote(NamedTuple):
    """The state of one symbol at one market second."""

    symbol: SymbolInfo
    day: dt.date
    second: int  # clamped to -1..hours.close_s
    price: int
    base: int
    upper: int
    lower: int
    open: int
    high: int
    low: int
    high_s: int
    low_s: int
    open_s: int
    acml_vol: int
    acml_tr_pbmn: int
    buy_count: int
    sell_count: int
    buy_qty: int
    sell_qty: int
    trades: int
    expected: int  # fair value on the grid (the expected price during call auctions and VI)
    vi_active: bool
    vi_ref: int
    prev_volume: int
    phase: Phase
    hours: SessionHours
    #: trading suspended all day (KIS ``temp_stop_yn`` Y, ``iscd_stat_cls_code`` 58)
    halted: bool = False

    @property
    def change(self) -> int:
        return self.price - self.base

    @property
    def sign(self) -> str:
        if self.price >= self.upper:
            return "1"
        if self.price <= self.lower:
            return "4"
        if self.price > self.base:
            return "2"
        if self.price < self.base:
            return "5"
        return "3"

    @property
    def change_rate(self) -> str:
        return f"{(self.price - self.base) * 100 / self.base:.2f}"

    @property
    def vwap(self) -> str:
        if self.acml_vol == 0:
            return "0.00"
        return f"{self.acml_tr_pbmn / self.acml_vol:.2f}"

    @property
    def exchange_time(self) -> dt.datetime:
        return self.hours.to_datetime(self.day, self.second)


class Book(NamedTuple):
    """Ten-level orderbook at a market second (level 1 is best)."""

    second: int
    asks: tuple[int, ...]
    bids: tuple[int, ...]
    ask_qty: tuple[int, ...]
    bid_qty: tuple[int, ...]
    antc_price: int  # expected price (0 outside call auctions / VI)
    antc_qty: int
    antc_vol: int


class IndexQuote(NamedTuple):
    code: str
    name: str
    second: int
    value_x100: int
    prev_x100: int
    open_x100: int
    high_x100: int
    low_x100: int
    acml_vol: int
    acml_tr_pbmn: int
    prev_vol: int
    up: int
    upper_limit: int
    flat: int
    down: int
    lower_limit: int


class _DayParams(NamedTuple):
    base: int
    upper: int
    lower: int
    thresholds: I64  # Poisson inverse-CDF thresholds (integers, see _day_params)
    vols: I64  # 64 trade sizes
    prev_volume: int
    key: int
    streams: tuple[int, ...]  # one hash key per stream id


class _State(NamedTuple):
    fair: int
    last: int
    open: int
    high: int
    low: int
    high_s: int
    low_s: int
    acml_vol: int
    acml_tr_pbmn: int
    buy_count: int
    sell_count: int
    buy_qty: int
    sell_qty: int
    trades: int
    vi_until: int
    vi_ref: int


class _Chunk(NamedTuple):
    """Per-second arrays of seconds ``a <= s < e`` (index ``s - a``) and the state before."""

    a: int
    e: int
    state_in: _State
    fair: I64
    price: I64  # last traded price per second
    expected: I64
    n: I64  # trades in the second
    unit: I64  # base volume of the second's trades
    side_bits: I64  # bit j set: trade j buy-initiated
    dbl_bits: I64  # bit j set: trade j has twice the base volume
    auction: npt.NDArray[np.bool_]
    cvol: I64
    cturn: I64
    nbuy: I64
    nsell: I64
    qbuy: I64
    qsell: I64
    high: I64
    low: I64
    high_s: I64
    low_s: I64
    ntrades: I64
    vi_until: I64
    vi_ref: I64


INDEX_CODES: Final = {
    "0001": ("KOSPI", "종합", 250_000),
    "1001": ("KOSDAQ", "코스닥", 75_000),
    "2001": ("KOSPI200", "코스피200", 34_000),
}

_FAMOUS: Final = (
    ("005930", "삼성전자", "KOSPI", "전기전자", 72_000, 3.0),
    ("000660", "SK하이닉스", "KOSPI", "전기전자", 180_000, 2.5),
    ("035420", "NAVER", "KOSPI", "서비스업", 190_000, 1.5),
    ("035720", "카카오", "KOSPI", "서비스업", 42_000, 1.8),
    ("005380", "현대차", "KOSPI", "운수장비", 240_000, 1.4),
    ("051910", "LG화학", "KOSPI", "화학", 380_000, 1.2),
    ("247540", "에코프로비엠", "KOSDAQ", "일반전기전자", 210_000, 2.0),
    ("091990", "셀트리온헬스케어", "KOSDAQ", "유통", 65_000, 1.2),
)
_PREFIXES: Final = [
    "한국",
    "대한",
    "동양",
    "서울",
    "신성",
    "우리",
    "미래",
    "태평",
    "세종",
    "하나",
    "대성",
    "동원",
    "삼화",
    "한빛",
    "새한",
    "중앙",
    "고려",
    "아세아",
    "조선",
    "경남",
    "부산",
    "대림",
    "한일",
    "한솔",
    "동국",
    "일진",
    "영진",
    "국제",
    "청호",
    "한미",
    "유니",
    "케이",
    "에스",
    "제이",
    "티엠",
    "씨엔",
    "에이치",
    "지엘",
    "비엠",
    "알파",
    "오리온",
    "코리아",
    "글로벌",
    "뉴",
    "그린",
    "블루",
    "스타",
    "퍼스트",
    "넥스",
    "메가",
    "하이",
    "엔에스",
    "디와이",
    "더블유",
    "큐브",
    "피엔",
    "에코",
    "바이오",
    "나노",
]
_SUFFIXES: Final = [
    "전자",
    "화학",
    "바이오",
    "제약",
    "건설",
    "에너지",
    "반도체",
    "금융",
    "통신",
    "식품",
    "중공업",
    "소재",
    "테크",
    "로직스",
    "시스템",
    "정밀",
    "산업",
    "물산",
    "홀딩스",
    "디스플레이",
    "소프트",
    "엔터",
    "게임즈",
    "모터스",
    "철강",
    "제지",
    "섬유",
    "해운",
    "항공",
    "캐피탈",
    "증권",
    "보험",
    "헬스케어",
    "메디칼",
    "인터내셔널",
    "솔루션",
    "네트웍스",
    "머티리얼즈",
    "파마",
    "이노텍",
    "오토",
    "플랜트",
    "랩스",
    "로보틱스",
]
_SECTORS: Final = (
    "전기전자",
    "화학",
    "의약품",
    "서비스업",
    "운수장비",
    "철강금속",
    "건설업",
    "유통업",
    "음식료품",
    "금융업",
    "기계",
    "통신업",
    "섬유의복",
    "종이목재",
    "IT부품",
    "소프트웨어",
)


class SessionHours(NamedTuple):
    """Where one day's market seconds lie on the KST clock.

    Market second 0 is ``start_s`` seconds after midnight KST: the opening call, 30 minutes
    (``OPEN_S``) before the open. The closing call takes the last 10 minutes before the
    closing auction at ``close_s``. ``SessionHours.of(open, close)`` builds one from the
    regular session's hours; ``USUAL_HOURS`` is 09:00-15:30.
    """

    start_s: int
    close_s: int

    @classmethod
    def of(cls, open_: dt.time, close: dt.time) -> SessionHours:
        """The hours of a session opening at ``open_`` and closing at ``close`` (KST).

        Raises ``ValueError`` unless both are whole seconds, the opening call starts after
        midnight and the session is longer than its closing call.
        """
        if open_.tzinfo is not None or close.tzinfo is not None:
            raise ValueError("session hours are KST times of day, without a zone")
        if open_.microsecond or close.microsecond:
            raise ValueError(f"session hours {open_}-{close} must be whole seconds")
        start_s = open_.hour * 3600 + open_.minute * 60 + open_.second - OPEN_S
        close_s = close.hour * 3600 + close.minute * 60 + close.second - start_s
        if start_s < 0:
            raise ValueError(f"a session opening at {open_} would start its call before midnight")
        if close_s - OPEN_S <= _CLOSING_CALL_S:
            raise ValueError(
                f"a session {open_}-{close} must run longer than its "
                f"{_CLOSING_CALL_S // 60}-minute closing call"
            )
        return cls(start_s, close_s)

    @property
    def close_call_s(self) -> int:
        """The market second the closing call starts."""
        return self.close_s - _CLOSING_CALL_S

    def origin(self, day: dt.date) -> dt.datetime:
        """The instant of market second 0 on ``day``."""
        return dt.datetime.combine(day, dt.time(), tzinfo=KST) + dt.timedelta(seconds=self.start_s)

    def second_of(self, day: dt.date, when: dt.datetime) -> int:
        """Market second of ``when`` on ``day`` (may be negative or past ``close_s``)."""
        return math.floor((when - self.origin(day)).total_seconds())

    def to_datetime(self, day: dt.date, second: int) -> dt.datetime:
        """The instant market second ``second`` starts on ``day``."""
        return self.origin(day) + dt.timedelta(seconds=second)

    def hhmmss(self, second: int) -> str:
        """KST time of day of market second ``second``, as KIS writes it (``HHMMSS``)."""
        total = (self.start_s + second) % 86_400
        return f"{total // 3600:02d}{total // 60 % 60:02d}{total % 60:02d}"


USUAL_HOURS: Final = SessionHours.of(dt.time(9, 0), dt.time(15, 30))


def phase_at(second: int, vi_active: bool = False, hours: SessionHours = USUAL_HOURS) -> Phase:
    if second < 0:
        return Phase("closed", "", "00", "")
    if second < OPEN_S:
        return Phase("opening_call", "B", "10", "311")
    if second < hours.close_call_s:
        if vi_active:
            return Phase("vi", "C", "20", "112")
        return Phase("continuous", "0", "20", "112")
    if second < hours.close_s:
        return Phase("closing_call", "A", "21", "121")
    return Phase("post_close", "0", "30", "129")


def _build_universe(seed: int, n: int) -> list[SymbolInfo]:
    codes: set[str] = set()
    names: set[str] = set()
    out: list[SymbolInfo] = []
    rng_state = derive_key(seed, _S_STATIC)

    def draw() -> int:
        nonlocal rng_state
        rng_state = mix64(rng_state + 0x9E3779B97F4A7C15)
        return rng_state

    def unit() -> float:
        return (draw() >> 11) / 9007199254740992.0

    for idx in range(n):
        if idx < len(_FAMOUS):
            code, name, market, sector, price, lam = _FAMOUS[idx]
        else:
            while True:
                code = f"{(draw() % 99_999) + 1:05d}0"
                if code not in codes:
                    break
            while True:
                name = _PREFIXES[draw() % len(_PREFIXES)] + _SUFFIXES[draw() % len(_SUFFIXES)]
                if name not in names:
                    break
                if unit() < 0.3:
                    name = name + "우"
                    if name not in names:
                        break
            market = "KOSPI" if unit() < 0.38 else "KOSDAQ"
            sector = _SECTORS[draw() % len(_SECTORS)]
            price = floor_tick(max(100, int(math.exp(math.log(500) + unit() * math.log(1000)))))
            lam = 0.02 * math.exp(unit() * math.log(150))  # 0.02 .. 3 trades/s
        codes.add(code)
        names.add(name)
        daily_vol = 0.01 + unit() * 0.04  # 1 % .. 5 % of the price per session
        sigma = max(1, round(price * 1024 * daily_vol / math.sqrt(CLOSE_S - OPEN_S)))
        lot = 1 if price > 100_000 else (10 if price > 10_000 else (50 if price > 2_000 else 200))
        shares = int(10 ** (6.5 + unit() * 2.5))
        out.append(SymbolInfo(idx, code, name, market, sector, price, sigma, lam, shares, lot))
    return out


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _locked(
    method: Callable[Concatenate[SimMarket, _P], _R],
) -> Callable[Concatenate[SimMarket, _P], _R]:
    """Serialise a public method: the warm-up thread and the event loop share the caches."""

    def wrapper(self: SimMarket, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    wrapper.__qualname__ = method.__qualname__
    wrapper.__doc__ = method.__doc__
    return wrapper


class SimMarket:
    """The deterministic market of one seed, for one trading day at a time.

    Thread-safe: public methods hold one re-entrant lock (``warm`` runs in a worker thread
    while the event loop serves requests; it takes the lock a few symbols at a time).
    """

    def __init__(
        self,
        seed: int,
        n_symbols: int,
        day: dt.date,
        *,
        vi_threshold_pct: float = 3.0,
        vi_window_s: int = 60,
        vi_duration_s: int = 120,
        jumps_per_session: float = 0.05,
        block_cache: int = 512,
        session_hours: Mapping[dt.date, SessionHours] | None = None,
        halted: Sequence[str] = (),
    ) -> None:
        self.seed = seed
        #: the days whose hours are not ``USUAL_HOURS``
        self.session_hours: dict[dt.date, SessionHours] = dict(session_hours or {})
        self.symbols: tuple[SymbolInfo, ...] = tuple(_build_universe(seed, n_symbols))
        self._by_code = {s.code: s for s in self.symbols}
        unknown = sorted(set(halted) - self._by_code.keys())
        if unknown:
            raise ValueError(f"halted symbols not in the {n_symbols}-symbol universe: {unknown}")
        #: positions of the symbols whose trading is suspended all day, every day
        self._halted = frozenset(self._by_code[code].position for code in halted)
        self._vi_thr_pm = round(vi_threshold_pct * 10)
        self._vi_window = vi_window_s
        self._vi_duration = vi_duration_s
        self._jump_p = jumps_per_session / (CLOSE_S - OPEN_S)
        self._block_cache_size = block_cache
        self._lock = threading.RLock()
        self.day = day
        self._reset_day()

    def __repr__(self) -> str:
        return f"SimMarket(seed={self.seed}, symbols={len(self.symbols)}, day={self.day})"

    @property
    def close_s(self) -> int:
        """The market second of the day's closing auction (its state is final after it)."""
        return self.hours.close_s

    # -- day -------------------------------------------------------------------------------

    @_locked
    def set_day(self, day: dt.date) -> None:
        if day != self.day:
            self.day = day
            self._reset_day()

    def _reset_day(self) -> None:
        self.hours = self.session_hours.get(self.day, USUAL_HOURS)
        self._checkpoints: dict[int, list[_State]] = {}
        self._blocks: OrderedDict[tuple[int, int], _Chunk] = OrderedDict()
        # per symbol: (second, state at the end of that second, expected price there)
        self._cursors: dict[int, tuple[int, _State, int]] = {}
        self._params: dict[int, _DayParams] = {}

    # -- universe --------------------------------------------------------------------------

    def symbol(self, code: str) -> SymbolInfo | None:
        return self._by_code.get(code)

    def master(self) -> list[dict[str, str]]:
        """The master list: ``[{code, name, market}]`` in universe order."""
        return [{"code": s.code, "name": s.name, "market": s.market} for s in self.symbols]

    def second_of(self, when: dt.datetime) -> int:
        """Market second of ``when`` on the market's day."""
        return self.hours.second_of(self.day, when)

    def time_of(self, second: int) -> dt.datetime:
        """The instant market second ``second`` starts on the market's day."""
        return self.hours.to_datetime(self.day, second)

    # -- per-symbol day parameters ---------------------------------------------------------

    def _day_params(self, sym: SymbolInfo) -> _DayParams:
        cached = self._params.get(sym.position)
        if cached is not None:
            return cached
        ordinal = self.day.toordinal()
        h = derive_key(self.seed, sym.position, _S_DAY, ordinal)
        drift = ((h >> 11) / 9007199254740992.0 - 0.5) * 0.10  # ±5 % per day
        base = floor_tick(max(100, round(sym.prev_close * (1 + drift))))
        upper = floor_tick(base * 13 // 10)
        lower = _ceil_tick(-(-base * 7 // 10))
        lam = sym.trades_per_s
        cdf = []
        acc = 0.0
        term = math.exp(-lam)
        for k in range(MAX_TRADES_PER_S):
            acc += term
            cdf.append(acc)
            term *= lam / (k + 1)
        # integer thresholds: u < c  <=>  u_int < ceil(c * 2**53) for u = u_int * 2**-53, so
        # the Poisson draw is exact integer arithmetic whatever batch it is computed in
        cdf_arr = np.array([math.ceil(c * 9007199254740992.0) for c in cdf], dtype=np.int64)
        vols = np.array(
            [max(1, round(sym.lot * math.exp(i / 63 * math.log(60)))) for i in range(64)],
            dtype=np.int64,
        )
        prev_volume = int(
            lam * (CLOSE_S - OPEN_S) * float(vols.mean()) * (0.7 + 0.6 * ((h >> 20) % 1000) / 1000)
        )
        day_key = derive_key(self.seed, sym.position, ordinal)
        streams = tuple(derive_key(day_key, sid) for sid in range(9))
        out = _DayParams(base, upper, lower, cdf_arr, vols, prev_volume, day_key, streams)
        self._params[sym.position] = out
        return out

    @_locked
    def limits(self, sym: SymbolInfo) -> tuple[int, int, int]:
        """(base, upper, lower) of the day."""
        base, upper, lower, *_ = self._day_params(sym)
        return base, upper, lower

    # -- computation -----------------------------------------------------------------------

    def _initial(self, sym: SymbolInfo) -> _State:
        base = self._day_params(sym)[0]
        return _State(base << _FAIR_SHIFT, base, 0, 0, 0, -1, -1, 0, 0, 0, 0, 0, 0, 0, -1, 0)

    def _compute(self, sym: SymbolInfo, state: _State, a: int, e: int) -> _Chunk:
        return self._compute_rows([(sym, state, a)], e)[0]

    def _compute_rows(self, rows: list[tuple[SymbolInfo, _State, int]], e: int) -> list[_Chunk]:
        """Seconds ``a_i <= s < e`` of several symbols in one vectorised pass (row ``i`` is
        symbol ``i`` from its state at ``a_i - 1``). Every operation is elementwise or a
        cumulative sum/max along a row, in integers, so a row's result does not depend on the
        other rows, on padding, or on where the chunk starts."""
        n_rows = len(rows)
        w = self._vi_window
        close_s, close_call_s = self.hours.close_s, self.hours.close_call_s
        a_arr = np.array([a for _s, _st, a in rows], dtype=np.int64)
        a_min = int(a_arr.min())
        width = e - a_min
        params = [self._day_params(sym) for sym, _st, _a in rows]
        st_in = [st for _s, st, _a in rows]

        def col(values: list[int]) -> I64:
            return np.array(values, dtype=np.int64)[:, None]

        base = col([p.base for p in params])
        upper = col([p.upper for p in params])
        lower = col([p.lower for p in params])

        def stream(sid: int) -> U64:
            return np.array([p.streams[sid] for p in params], dtype=np.uint64)[:, None]

        sig = col([sym.sigma_q * 65_536 // _IRWIN_SD2 for sym, _s, _a in rows])
        ext = np.arange(a_min - w, e, dtype=np.int64)
        h = hash_u64(stream(_S_WALK), ext)
        irwin = h.view(np.uint16).reshape(n_rows, len(ext), 4).sum(axis=2, dtype=np.int64)
        d = ((2 * irwin - 262_140) * sig) >> 16
        hj = hash_u64(stream(_S_JUMP), ext)
        jump = uniform(hj) < self._jump_p
        if jump.any():
            size = (base << _FAIR_SHIFT) * (4 + (hj & np.uint64(3)).astype(np.int64)) // 100
            sign = np.where((hj >> np.uint64(5)) & np.uint64(1), 1, -1)
            d = d + np.where(jump, sign * size, 0)
        d[:, (ext <= 0) | (ext > close_s)] = 0
        cs = np.concatenate((np.zeros((n_rows, 1), dtype=np.int64), np.cumsum(d, axis=1)), axis=1)
        rix = np.arange(n_rows)
        fair0 = col([st.fair for st in st_in])
        fair = fair0 + cs[:, w + 1 :] - cs[rix, a_arr - (a_min - w)][:, None]
        # the move over the last w seconds: fair_s - fair_{s-w} = sum d[s-w+1 .. s]
        wsum = cs[:, w + 1 :] - cs[:, 1 : len(ext) - w + 1]
        idx = ext[w:]
        valid = idx[None, :] >= a_arr[:, None]
        x = np.clip(fair >> _FAIR_SHIFT, lower, upper)
        expected = np.clip(_round_ticks(x), lower, upper)

        cont = ((idx > OPEN_S) & (idx < close_call_s))[None, :] & valid
        cand = cont & (np.abs(wsum) * 1000 > self._vi_thr_pm * np.maximum(fair - wsum, 1))
        vi_active = np.zeros((n_rows, width), dtype=np.bool_)
        auction = ((idx == OPEN_S) | (idx == close_s))[None, :] & valid
        vi_until_arr = col([st.vi_until for st in st_in]) + np.zeros((1, width), dtype=np.int64)
        vi_ref_arr = col([st.vi_ref for st in st_in]) + np.zeros((1, width), dtype=np.int64)
        triggers: list[list[int]] = [[] for _ in rows]
        for r, (_sym, st, a) in enumerate(rows):
            vi_until = st.vi_until
            off = a_min
            if vi_until > a:
                vi_active[r, a - off : min(vi_until, e) - off] = True
                if OPEN_S < vi_until < close_call_s and vi_until < e:
                    auction[r, vi_until - off] = True
            row_cand = cand[r]
            if not row_cand.any():
                continue
            for sec in idx[row_cand].tolist():
                if sec >= vi_until:
                    triggers[r].append(sec)
                    vi_until = sec + self._vi_duration
                    vi_active[r, sec - off : min(vi_until, e) - off] = True
                    if vi_until < close_call_s and vi_until < e:
                        auction[r, vi_until - off] = True
        trading = cont & ~vi_active & ~auction

        u_int = (hash_u64(stream(_S_COUNT), idx) >> np.uint64(11)).astype(np.int64)
        # Poisson count by inverse CDF: n = #{k : threshold_k <= u}, row by row thresholds
        thresholds = np.stack([p.thresholds for p in params])
        n = np.zeros((n_rows, width), dtype=np.int64)
        for k in range(MAX_TRADES_PER_S):
            n += u_int >= thresholds[:, k : k + 1]
        n = np.where(trading, n, 0)
        n[auction] = 1
        traded = n > 0

        pos = np.maximum.accumulate(np.where(traded, np.arange(width), -1), axis=1)
        last = col([st.last for st in st_in])
        price = np.where(pos >= 0, np.take_along_axis(expected, np.maximum(pos, 0), axis=1), last)
        for r, trig in enumerate(triggers):
            for sec in trig:
                vi_until_arr[r, sec - a_min :] = sec + self._vi_duration
                vi_ref_arr[r, sec - a_min :] = price[r, sec - a_min]

        hv = hash_u64(stream(_S_VOL), idx)
        vols = np.stack([p.vols for p in params])
        unit = np.take_along_axis(vols, (hv & np.uint64(63)).astype(np.int64), axis=1)
        boost = 20 + ((hv >> np.uint64(6)) & np.uint64(31)).astype(np.int64)
        unit = np.where(auction, unit * boost, unit)
        mask = (np.left_shift(np.int64(1), n) - 1).astype(np.uint64)
        side_bits = (hv >> np.uint64(12)) & mask
        dbl_bits = (hv >> np.uint64(38)) & mask
        n_buy = np.bitwise_count(side_bits).astype(np.int64)
        vol = unit * (n + np.bitwise_count(dbl_bits).astype(np.int64))
        qb = unit * (n_buy + np.bitwise_count(side_bits & dbl_bits).astype(np.int64))

        def carry(values: list[int], inc: I64) -> I64:
            out: I64 = col(values) + np.cumsum(inc, axis=1)
            return out

        cvol = carry([st.acml_vol for st in st_in], vol)
        cturn = carry([st.acml_tr_pbmn for st in st_in], vol * price)
        nbuy = carry([st.buy_count for st in st_in], n_buy)
        nsell = carry([st.sell_count for st in st_in], n - n_buy)
        qbuy = carry([st.buy_qty for st in st_in], qb)
        qsell = carry([st.sell_qty for st in st_in], vol - qb)
        ntrades = carry([st.trades for st in st_in], n)
        high0 = col([st.high for st in st_in])
        high = np.maximum(np.maximum.accumulate(np.where(traded, price, high0), axis=1), high0)
        low0 = col([st.low if st.low > 0 else _BIG for st in st_in])
        low = np.minimum(np.minimum.accumulate(np.where(traded, price, low0), axis=1), low0)
        prev_high = np.concatenate((high0, high[:, :-1]), axis=1)
        prev_low = np.concatenate((low0, low[:, :-1]), axis=1)
        high_s = _ffill2(
            np.where(traded & (price > prev_high), idx, -1), col([st.high_s for st in st_in])
        )
        low_s = _ffill2(
            np.where(traded & (price < prev_low), idx, -1), col([st.low_s for st in st_in])
        )
        low = np.where(low == _BIG, 0, low)
        side_i = side_bits.astype(np.int64)
        dbl_i = dbl_bits.astype(np.int64)

        chunks = []
        for r, (_sym, st, a) in enumerate(rows):
            o = a - a_min
            chunks.append(
                _Chunk(
                    a, e, st, fair[r, o:], price[r, o:], expected[r, o:], n[r, o:],
                    unit[r, o:], side_i[r, o:], dbl_i[r, o:], auction[r, o:], cvol[r, o:],
                    cturn[r, o:], nbuy[r, o:], nsell[r, o:], qbuy[r, o:], qsell[r, o:],
                    high[r, o:], low[r, o:], high_s[r, o:], low_s[r, o:], ntrades[r, o:],
                    vi_until_arr[r, o:], vi_ref_arr[r, o:],
                )
            )  # fmt: skip
        return chunks

    @staticmethod
    def _state_at(c: _Chunk, s: int) -> _State:
        if s < c.a:
            return c.state_in
        i = s - c.a
        open_ = c.state_in.open
        if c.a <= OPEN_S <= s:
            open_ = int(c.price[OPEN_S - c.a])
        return _State(
            int(c.fair[i]),
            int(c.price[i]),
            open_,
            int(c.high[i]),
            int(c.low[i]),
            int(c.high_s[i]),
            int(c.low_s[i]),
            int(c.cvol[i]),
            int(c.cturn[i]),
            int(c.nbuy[i]),
            int(c.nsell[i]),
            int(c.qbuy[i]),
            int(c.qsell[i]),
            int(c.ntrades[i]),
            int(c.vi_until[i]),
            int(c.vi_ref[i]),
        )

    def _checkpoint(self, sym: SymbolInfo, block: int) -> _State:
        """State at the end of second ``block * BLOCK_S - 1``."""
        cps = self._checkpoints.get(sym.position)
        if cps is None:
            cps = [self._initial(sym)]
            self._checkpoints[sym.position] = cps
        if block < len(cps):
            return cps[block]
        a = (len(cps) - 1) * BLOCK_S
        e = block * BLOCK_S
        chunk = self._compute(sym, cps[-1], a, e)
        for b in range(len(cps), block + 1):
            cps.append(self._state_at(chunk, b * BLOCK_S - 1))
        return cps[block]

    def _block(self, sym: SymbolInfo, block: int) -> _Chunk:
        key = (sym.position, block)
        chunk = self._blocks.get(key)
        if chunk is not None:
            self._blocks.move_to_end(key)
            return chunk
        start = self._checkpoint(sym, block)
        a = block * BLOCK_S
        chunk = self._compute(sym, start, a, min(a + BLOCK_S, self.hours.close_s + 1))
        self._blocks[key] = chunk
        if len(self._blocks) > self._block_cache_size:
            self._blocks.popitem(last=False)
        return chunk

    def _state(self, sym: SymbolInfo, second: int) -> tuple[int, _State, int]:
        """(clamped second, state at its end, expected price) — from the symbol's cursor when
        moving forward (cost proportional to the seconds advanced), else from a cached block."""
        s = min(max(second, -1), self.hours.close_s)
        if s < 0:
            st = self._initial(sym)
            return s, st, st.last
        cached = self._blocks.get((sym.position, s // BLOCK_S))
        if cached is not None:
            return s, self._state_at(cached, s), int(cached.expected[s - cached.a])
        c_s, c_state, c_exp = self._start_cursor(sym, s)
        if s == c_s and c_exp:
            return s, c_state, c_exp
        if s <= c_s:
            chunk = self._block(sym, s // BLOCK_S)
            return s, self._state_at(chunk, s), int(chunk.expected[s - chunk.a])
        chunk = self._compute(sym, c_state, c_s + 1, s + 1)
        return (s, *self._advance_cursor(sym, c_s, c_state, chunk, s))

    def _start_cursor(self, sym: SymbolInfo, s: int) -> tuple[int, _State, int]:
        cursor = self._cursors.get(sym.position)
        if cursor is not None:
            return cursor
        cps = self._checkpoints.get(sym.position)
        b = 0 if cps is None else min(len(cps) - 1, s // BLOCK_S)
        return (b * BLOCK_S - 1, self._checkpoint(sym, b), 0)

    def _advance_cursor(
        self, sym: SymbolInfo, c_s: int, c_state: _State, chunk: _Chunk, s: int
    ) -> tuple[_State, int]:
        """Move the symbol's cursor to ``s`` with ``chunk`` (seconds ``c_s + 1 .. s``),
        keeping a checkpoint at every block boundary crossed."""
        cps = self._checkpoints.setdefault(sym.position, [self._initial(sym)])
        while (x := len(cps) * BLOCK_S - 1) <= s and x >= c_s:
            cps.append(c_state if x == c_s else self._state_at(chunk, x))
        st = self._state_at(chunk, s)
        exp = int(chunk.expected[s - chunk.a])
        self._cursors[sym.position] = (s, st, exp)
        return st, exp

    @_locked
    def advance(self, symbols: Sequence[SymbolInfo], second: int) -> None:
        """Bring every symbol's cursor to ``second`` in as few vectorised passes as fit a
        bounded working set (what a multi-symbol request and the warm-up use)."""
        s = min(second, self.hours.close_s)
        if s < 0:
            return
        rows: list[tuple[SymbolInfo, _State, int]] = []
        seen: set[int] = set()
        for sym in symbols:
            if (
                sym.position in seen
                or sym.position in self._halted
                or (sym.position, s // BLOCK_S) in self._blocks
            ):
                continue
            seen.add(sym.position)
            c_s, c_state, _exp = self._start_cursor(sym, s)
            if c_s < s:
                rows.append((sym, c_state, c_s + 1))
        rows.sort(key=lambda row: -row[2])  # narrowest chunks first
        group: list[tuple[SymbolInfo, _State, int]] = []
        for row in [*rows, None]:
            if group and (
                row is None
                or (len(group) + 1) * (s + 1 - row[2]) > _BATCH_CELLS
                or (s + 1 - row[2]) > 2 * (s + 1 - group[0][2]) + 64
            ):
                for (sym, st, a), chunk in zip(
                    group, self._compute_rows(group, s + 1), strict=True
                ):
                    self._advance_cursor(sym, a - 1, st, chunk, s)
                group = []
            if row is not None:
                group.append(row)

    def warm(
        self,
        second: int,
        stop: threading.Event | None = None,
        step: int = 16,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Advance every symbol to ``second``, ``step`` symbols per lock hold (for a worker
        thread at start-up, so the first requests of a mid-day start are cheap). Returns how
        many symbols were done before ``stop`` was set; ``progress(done, total)`` after each
        step."""
        total = len(self.symbols)
        for i in range(0, total, step):
            if stop is not None and stop.is_set():
                return i
            self.advance(self.symbols[i : i + step], second)
            if progress is not None:
                progress(min(i + step, total), total)
        return total

    @_locked
    def quote_many(self, symbols: Sequence[SymbolInfo], second: int) -> list[Quote]:
        """``quote`` of several symbols at one second, computed together."""
        self.advance(symbols, second)
        return [self.quote(sym, second) for sym in symbols]

    # -- queries ---------------------------------------------------------------------------

    @_locked
    def quote(self, sym: SymbolInfo, second: int) -> Quote:
        """State of ``sym`` after every trade up to and including market second ``second``."""
        return self._quote(sym, second, prefer_block=False)

    @_locked
    def quote_cached(self, sym: SymbolInfo, second: int) -> Quote:
        """``quote`` through the block cache (cheap for symbols asked about every second)."""
        return self._quote(sym, second, prefer_block=True)

    def _quote(self, sym: SymbolInfo, second: int, *, prefer_block: bool) -> Quote:
        dp = self._day_params(sym)
        base, upper, lower, prev_volume = dp.base, dp.upper, dp.lower, dp.prev_volume
        halted = sym.position in self._halted
        if halted:  # never trades: the state before the session, all day
            s = min(max(second, -1), self.hours.close_s)
            st, expected = self._initial(sym), base
        elif prefer_block and second >= 0:
            s = min(second, self.hours.close_s)
            chunk = self._block(sym, s // BLOCK_S)
            st, expected = self._state_at(chunk, s), int(chunk.expected[s - chunk.a])
        else:
            s, st, expected = self._state(sym, second)
        vi_active = st.vi_until > s >= 0
        open_s = OPEN_S if s >= OPEN_S and not halted else -1
        return Quote(
            sym,
            self.day,
            s,
            st.last,
            base,
            upper,
            lower,
            st.open,
            st.high,
            st.low,
            st.high_s,
            st.low_s,
            open_s,
            st.acml_vol,
            st.acml_tr_pbmn,
            st.buy_count,
            st.sell_count,
            st.buy_qty,
            st.sell_qty,
            st.trades,
            expected,
            vi_active,
            st.vi_ref,
            prev_volume,
            phase_at(s, vi_active, self.hours),
            self.hours,
            halted,
        )

    @_locked
    def trades(self, sym: SymbolInfo, after: int, upto: int) -> list[Trade]:
        """Trades in market seconds ``after < s <= upto``, in order."""
        lo = max(after + 1, 0)
        hi = min(upto, self.hours.close_s)
        out: list[Trade] = []
        if lo > hi or sym.position in self._halted:
            return out
        opening = 0
        for block in range(lo // BLOCK_S, hi // BLOCK_S + 1):
            c = self._block(sym, block)
            i0 = max(lo, c.a) - c.a
            i1 = min(hi, c.e - 1) - c.a + 1
            if i0 >= i1:
                continue
            nz = (np.nonzero(c.n[i0:i1])[0] + i0).tolist()
            if not nz:
                continue
            if opening == 0 and c.a + nz[-1] >= OPEN_S:
                opening = self._opening_price(sym)
            for i in nz:
                s = c.a + i
                n = int(c.n[i])
                unit = int(c.unit[i])
                side_bits = int(c.side_bits[i])
                dbl_bits = int(c.dbl_bits[i])
                price = int(c.price[i])
                prev = self._state_at(c, s - 1)
                cvol, cturn = prev.acml_vol, prev.acml_tr_pbmn
                nbuy, nsell, qbuy, qsell = (
                    prev.buy_count,
                    prev.sell_count,
                    prev.buy_qty,
                    prev.sell_qty,
                )
                seq = prev.trades
                high, low = int(c.high[i]), int(c.low[i])
                high_s, low_s = int(c.high_s[i]), int(c.low_s[i])
                auction = bool(c.auction[i])
                for j in range(n):
                    vol = unit * (1 + ((dbl_bits >> j) & 1))
                    buy = (side_bits >> j) & 1
                    cvol += vol
                    cturn += vol * price
                    if buy:
                        nbuy += 1
                        qbuy += vol
                    else:
                        nsell += 1
                        qsell += vol
                    out.append(
                        Trade(
                            s,
                            seq + j,
                            price,
                            vol,
                            1 if buy else 5,
                            cvol,
                            cturn,
                            nbuy,
                            nsell,
                            qbuy,
                            qsell,
                            high,
                            low,
                            high_s,
                            low_s,
                            opening if s >= OPEN_S else 0,
                            auction,
                        )
                    )
        return out

    def _opening_price(self, sym: SymbolInfo) -> int:
        c = self._block(sym, OPEN_S // BLOCK_S)
        return int(c.price[OPEN_S - c.a])

    @_locked
    def seconds_with_book_change(
        self, sym: SymbolInfo, after: int, upto: int, probability: float
    ) -> list[int]:
        """Market seconds in ``(after, upto]`` where the orderbook changed: every traded second,
        every call-auction / VI second with probability ``probability`` and the same otherwise;
        never for a halted symbol (its book stays empty)."""
        lo = max(after + 1, 0)
        hi = min(upto, self.hours.close_s)
        if lo > hi or sym.position in self._halted:
            return []
        secs = np.arange(lo, hi + 1, dtype=np.int64)
        key = self._day_params(sym).key
        changed = uniform(hash_u64(derive_key(key, _S_PUSH), secs)) < probability
        out = []
        for block in range(lo // BLOCK_S, hi // BLOCK_S + 1):
            c = self._block(sym, block)
            b_lo = max(lo, c.a)
            b_hi = min(hi, c.e - 1)
            if b_lo > b_hi:
                continue
            traded = c.n[b_lo - c.a : b_hi - c.a + 1] > 0
            ch = changed[b_lo - lo : b_hi - lo + 1] | traded
            out.extend((np.nonzero(ch)[0] + b_lo).tolist())
        return out

    @_locked
    def book(self, sym: SymbolInfo, second: int) -> Book:
        """Orderbook at ``second``: levels around the last price (around the expected price
        during call auctions and VI), quantities from the hash, nothing beyond the limits;
        empty (every level ``0``) for a halted symbol."""
        q = self.quote(sym, second)
        return self.book_from_quote(q)

    @_locked
    def book_from_quote(self, q: Quote) -> Book:
        if q.halted:
            empty = (0,) * 10
            return Book(q.second, empty, empty, empty, empty, 0, 0, 0)
        dp = self._day_params(q.symbol)
        upper, lower, vols, key = dp.upper, dp.lower, dp.vols, dp.key
        s = q.second
        call = q.phase.name in ("opening_call", "closing_call", "vi")
        center = q.expected if call else q.price
        h = hash_u64(
            derive_key(key, _S_BOOK), np.arange(max(s, 0) * 32, max(s, 0) * 32 + 22, dtype=np.int64)
        ).tolist()
        if h[21] & 1:
            ask1 = center
            bid1 = center - tick_of(center - 1) if center > 1 else 0
        else:
            bid1 = center
            ask1 = center + tick_of(center)
        asks: list[int] = []
        bids: list[int] = []
        p = ask1
        for _ in range(10):
            asks.append(p if lower <= p <= upper else 0)
            p = p + tick_of(p)
        p = bid1
        for _ in range(10):
            bids.append(p if lower <= p <= upper and p > 0 else 0)
            p = p - tick_of(p - 1) if p > 1 else 0
        vols_l = vols.tolist()
        ask_qty = tuple(
            (vols_l[h[i] & 63] * (1 + (h[i] >> 8) % 8)) if asks[i] else 0 for i in range(10)
        )
        bid_qty = tuple(
            (vols_l[h[10 + i] & 63] * (1 + (h[10 + i] >> 8) % 8)) if bids[i] else 0
            for i in range(10)
        )
        if call:
            antc_qty = vols_l[h[20] & 63] * (5 + (h[20] >> 8) % 20)
            antc = (center, antc_qty, q.acml_vol + antc_qty)
        else:
            antc = (0, 0, 0)
        return Book(s, tuple(asks), tuple(bids), ask_qty, bid_qty, *antc)

    def index_quote(self, code: str, second: int) -> IndexQuote | None:
        spec = INDEX_CODES.get(code)
        if spec is None:
            return None
        name, _kor, base_x100 = spec
        s = min(max(second, -1), self.hours.close_s)
        key = derive_key(self.seed, _S_INDEX, int(code), self.day.toordinal())
        drift = ((key >> 11) / 9007199254740992.0 - 0.5) * 0.04
        prev = round(base_x100 * (1 + drift))
        if s < OPEN_S:
            vals = np.array([prev], dtype=np.int64)
        else:
            secs = np.arange(OPEN_S, s + 1, dtype=np.int64)
            h = hash_u64(key, secs)
            step = (h % np.uint64(7)).astype(np.int64) - 3
            vals = prev + np.cumsum(step) * max(1, prev // 100_000)
        value = int(vals[-1])
        traded_s = max(0, s - OPEN_S + 1)
        vol = traded_s * 41_000
        hc = mix64(key ^ max(s, 0))
        n = {"0001": 950, "1001": 1550, "2001": 200}[code]
        up = int(n * (0.3 + (hc % 400) / 1000))
        flat = int(n * 0.05)
        return IndexQuote(
            code,
            name,
            s,
            value,
            prev,
            int(vals[0]),
            int(vals.max()),
            int(vals.min()),
            vol,
            vol * 23_000,
            int(CLOSE_S * 41_000 * 0.95),
            up,
            hc % 3,
            flat,
            n - up - flat,
            hc % 2,
        )


_BIG: Final = np.iinfo(np.int64).max


def _ffill2(values: I64, initial: I64) -> I64:
    """Row-wise forward fill of ``-1`` holes; ``initial`` (a column) before the first value."""
    if values.shape[1] == 0:
        return values
    pos = np.maximum.accumulate(np.where(values >= 0, np.arange(values.shape[1]), -1), axis=1)
    filled = np.take_along_axis(values, np.maximum(pos, 0), axis=1)
    out: I64 = np.where(pos >= 0, filled, initial)
    return out
