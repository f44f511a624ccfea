"""The event model: every record kind that crosses the pipeline or lands in the archive.

Three record families, each a frozen msgspec Struct that states its schema version:

- ``ObservationSnapshot`` (``snapshots/``): one observation of one symbol, with its
  ``Enrichment`` and its ``Lineage`` back to the raw journal.
- ``RawEvent`` (``raw/``): a tagged union of what the broker sent (``RestResponse``,
  ``WsFrame``), verbatim with the local receive time, and of the scheduler's own events
  (``CycleStarted``, ``ScalpStruck``, ``CollectionFailed``, ``CycleEnded``), so that the
  snapshot archive is a deterministic projection of the raw journal alone.
- ``LedgerEntry`` (``ledger/``): the loss accounting of one collection cycle.

Rules (see shared/DESIGN.md and STYLE.md):

- Every field that may be absent has a default, so older and newer archives both decode.
- Timestamps are timezone-aware ``datetime``: exchange time in KST (+09:00), receive time in
  UTC; no record's time decodes without a UTC offset (``AwareDatetime``).
  Prices are integer KRW. Rates are floats (msgspec encodes them deterministically).
- ``seq`` is assigned by the producer, strictly increasing within an archive partition
  (date, mode, source); the archive writer refuses a sequence that goes backwards.
- Encoding always uses ``order="deterministic"`` (see ``pipeline._codec``) so that dict
  fields (counts by reason) encode identically whatever their insertion order.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, Final

import msgspec

__all__ = [
    "KST",
    "LEDGER_SCHEMA_VERSION",
    "RAW_SCHEMA_VERSION",
    "SNAPSHOT_SCHEMA_VERSION",
    "CollectionFailed",
    "CycleEnded",
    "CycleStarted",
    "Enrichment",
    "Environment",
    "FailureCause",
    "LedgerEntry",
    "Lineage",
    "Market",
    "Mode",
    "ObservationSnapshot",
    "RawEvent",
    "RestResponse",
    "ScalpStruck",
    "SessionPhase",
    "Source",
    "WsFrame",
]

KST: Final = dt.timezone(dt.timedelta(hours=9), "KST")

SNAPSHOT_SCHEMA_VERSION: Final = 1
RAW_SCHEMA_VERSION: Final = 1
LEDGER_SCHEMA_VERSION: Final = 1

NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
#: a datetime the decoders accept only with a UTC offset: a time without one names no instant,
#: and would be read in the zone of whichever host re-derives or filters it
AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


class Mode(enum.StrEnum):
    """Collection mode: swing (whole universe every 2-3 min) or scalp (chosen symbols every 1 s)."""

    SWING = "swing"
    SCALP = "scalp"


class Source(enum.StrEnum):
    """Which broker channel produced the observation."""

    KIS_REST = "kis-rest"
    KIS_WS = "kis-ws"
    KIWOOM_REST = "kiwoom-rest"
    KIWOOM_WS = "kiwoom-ws"


class Environment(enum.StrEnum):
    """Broker environment: the real market, the broker's paper market, or our simulator."""

    LIVE = "live"
    PAPER = "paper"
    SIM = "sim"


class Market(enum.StrEnum):
    KOSPI = "KOSPI"
    KOSDAQ = "KOSDAQ"
    KONEX = "KONEX"
    UNKNOWN = "UNKNOWN"


class SessionPhase(enum.StrEnum):
    """KRX session phase of an exchange timestamp (KST), shared/reference/kis-protocol.md §8."""

    CLOSED = "closed"
    PRE_OPEN_AUCTION = "pre_open_auction"  # 08:30-09:00 opening call
    REGULAR = "regular"  # 09:00-15:20 continuous
    CLOSING_AUCTION = "closing_auction"  # 15:20-15:30 closing call
    POST_CLOSE = "post_close"  # 15:40-16:00 closing-price trading
    AFTER_HOURS = "after_hours"  # 16:00-18:00 single price


class FailureCause(enum.StrEnum):
    """Why an expected observation was never received (ledger ``failed`` keys)."""

    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    AUTH = "auth"
    DISCONNECT = "disconnect"
    PARSE = "parse"
    SERVER_ERROR = "server_error"
    TORN_TAIL = "torn_tail"
    MISSED = "missed"  # a scheduled cycle that did not run (process down, overran its interval)
    CANCELLED = "cancelled"  # cut by shutdown


class Enrichment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """Derived fields, computed from this event and the fold of earlier admitted events."""

    session_phase: SessionPhase = SessionPhase.CLOSED
    staleness_ms: int = 0  # receive_time - exchange_time
    mid: float | None = None
    spread_bps: float | None = None
    return_since_prev: float | None = None  # last / previous admitted last - 1, same symbol+mode
    prev_exchange_time: AwareDatetime | None = None
    tick_conforming: bool | None = None  # last (and bid/ask) on the KRX tick grid


class Lineage(msgspec.Struct, frozen=True, kw_only=True):
    """Where a snapshot came from: the raw journal events (by seq) and the record inside them."""

    raw_mode: Mode
    raw_source: Source
    raw_seqs: tuple[int, ...] = ()
    record_index: int = 0  # row of a multi-symbol response / record of a multi-record frame


class ObservationSnapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """One observation of one symbol, as archived under ``snapshots/``."""

    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    seq: int = 0
    symbol: str
    market: Market = Market.UNKNOWN
    mode: Mode
    source: Source
    environment: Environment
    trading_day: dt.date
    exchange_time: AwareDatetime
    receive_time: AwareDatetime
    cycle_id: str
    # prices, integer KRW
    last: int | None = None
    open: int | None = None
    high: int | None = None
    low: int | None = None
    prev_close: int | None = None
    upper_limit: int | None = None
    lower_limit: int | None = None
    change: int | None = None  # signed, vs previous close
    change_rate_pct: float | None = None  # signed percent, 2 dp as sent
    volume: int | None = None  # cumulative shares
    turnover: int | None = None  # cumulative KRW
    # best quote
    bid: int | None = None
    ask: int | None = None
    bid_size: int | None = None
    ask_size: int | None = None
    # depth (level 1 first) when the source has it; parallel arrays for columnar readers
    bid_prices: tuple[int, ...] = ()
    bid_sizes: tuple[int, ...] = ()
    ask_prices: tuple[int, ...] = ()
    ask_sizes: tuple[int, ...] = ()
    # status
    vi_active: bool | None = None
    vi_ref_price: int | None = None
    halted: bool | None = None
    hour_cls_code: str | None = None  # KIS HOUR_CLS_CODE / new_mkop_cls_code, verbatim
    status_code: str | None = None  # KIS iscd_stat_cls_code, verbatim
    enrichment: Enrichment | None = None
    lineage: Lineage | None = None


# ---------------------------------------------------------------- raw journal


class _RawBase(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", forbid_unknown_fields=False
):
    schema_version: int = RAW_SCHEMA_VERSION
    seq: int = 0
    mode: Mode
    source: Source
    environment: Environment
    trading_day: dt.date
    receive_time: AwareDatetime
    cycle_id: str = ""


class RestResponse(_RawBase, frozen=True, kw_only=True, tag="rest"):
    """A REST response, verbatim. ``params`` are the query parameters (never a secret)."""

    tr_id: str
    path: str
    params: dict[str, str] = {}
    status: int
    body: str  # response text exactly as received
    symbols: tuple[str, ...] = ()  # the symbols this request asked for, in request order
    elapsed_ms: float | None = None


class WsFrame(_RawBase, frozen=True, kw_only=True, tag="ws"):
    """A WebSocket text frame, verbatim (data frames and control JSON alike)."""

    text: str


class CycleStarted(_RawBase, frozen=True, kw_only=True, tag="cycle_started"):
    """The scheduler struck a collection cycle: what it expects to observe."""

    scheduled_time: AwareDatetime
    symbols: tuple[str, ...] = ()
    #: the day's regular session (aware), when the scheduler knew it. A day that opens or
    #: closes off the usual hours (the year's first session, the CSAT day) has its session
    #: phases shifted to match (``PipelineConfig.for_session``); absent: the usual hours.
    session_open: AwareDatetime | None = None
    session_close: AwareDatetime | None = None
    #: the stage settings the cycle's snapshots go through, every one spelled out
    #: (``pipeline.config_mapping``; the regular session's, before any shift), so that the
    #: journal alone re-derives the archive. Absent (journals written before it): the
    #: projecting pipeline's own config.
    pipeline_config: dict[str, Any] | None = None


class ScalpStruck(_RawBase, frozen=True, kw_only=True, tag="scalp_struck"):
    """A scalp second boundary struck: snapshot every symbol from frames received before it."""

    second: AwareDatetime
    symbols: tuple[str, ...] = ()
    fallback_symbols: tuple[str, ...] = ()  # stale on the socket: fetched over REST instead


class CollectionFailed(_RawBase, frozen=True, kw_only=True, tag="collection_failed"):
    """Expected observations that never arrived, with their cause."""

    cause: FailureCause
    symbols: tuple[str, ...] = ()
    detail: str = ""


class CycleEnded(_RawBase, frozen=True, kw_only=True, tag="cycle_ended"):
    """The cycle is complete: nothing more will be attributed to ``cycle_id``."""


RawEvent = RestResponse | WsFrame | CycleStarted | ScalpStruck | CollectionFailed | CycleEnded


# ---------------------------------------------------------------- ledger


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """Loss accounting of one collection cycle.

    Conservation:
    ``expected == archived + deduplicated + sum(rejected) + sum(dropped) + sum(failed)``.
    Loss is everything expected and not archived, except deliberate deduplication
    (see ``pipeline.loss_rate``).
    """

    schema_version: int = LEDGER_SCHEMA_VERSION
    seq: int = 0
    cycle_id: str
    mode: Mode
    source: Source
    environment: Environment
    trading_day: dt.date
    started_at: AwareDatetime
    ended_at: AwareDatetime
    expected: NonNegInt = 0
    received: NonNegInt = 0
    archived: NonNegInt = 0
    deduplicated: NonNegInt = 0
    rejected: dict[str, int] = {}  # by Validation reason code
    dropped: dict[str, int] = {}  # by Guard reason code
    failed: dict[str, int] = {}  # by FailureCause
    lost_by_symbol: dict[str, int] = {}  # only symbols with loss > 0
    # scalp observations a strike asked of REST because the socket was stale; those whose
    # answer never came or failed are also in ``failed``
    rest_fallbacks: NonNegInt = 0
    # observations received beyond what the cycle expected (an extra symbol, a repeat); each
    # was also added to ``expected`` so conservation holds and none is silently ignored
    unexpected: NonNegInt = 0
