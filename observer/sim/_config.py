"""Simulator configuration: one frozen, strictly decoded struct.

Time units, stated once:

- *market seconds* follow the simulated clock (``speed`` × the wall): token and approval-key
  lifetimes, fault durations (``silence`` for 60 s means 60 s of market time).
- *wall seconds* follow the real clock: the REST rate-limit window (unless
  ``rate_in_market_time``) and the token issuance throttle (they guard the server, like the
  real gateway), PINGPONG interval and pong timeout (network liveness), REST latency
  injection.

``rate_in_market_time`` counts the REST limit per *market* second instead, and the token
issuance throttle in market seconds: a day compressed ``speed``-fold then grants the
collector what a live day grants it per second of the market, and a new token a market
minute after the last (``observer run --simulate`` uses it; the collector's request budget
and token waits must then run on the market clock too).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import msgspec

from ._faults import FaultSpec
from ._market import SessionHours

__all__ = ["SimConfig", "load_sim_config"]


class SimConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the simulator can be told; every field has a sensible default."""

    # -- market ---------------------------------------------------------------------------
    seed: int = 7
    n_symbols: int = 2500
    #: the simulated trading day; ``None`` = today (KST) when the simulator starts
    trading_day: dt.date | None = None
    #: KST market time the clock starts at
    start_time: dt.time = dt.time(9, 0)
    #: start the market clock at the KST time of day when the server is ready, instead of
    #: ``start_time``: at ``speed`` 1 it then reads what a wall clock in Seoul reads, so a
    #: live ``observer run`` (real clock, real schedule) can rehearse against it
    start_now: bool = False
    #: days whose regular session is not 09:00-15:30, as ``{day: (open, close)}`` (KST): a
    #: CSAT day opens at 10:00 and closes at 16:30; the market keeps its shape around them
    session_hours: dict[dt.date, tuple[dt.time, dt.time]] = {}
    #: market seconds per wall second
    speed: float = 1.0
    #: dynamic VI: a move of more than this many percent within ``vi_window_s`` triggers one
    vi_threshold_pct: float = 3.0
    vi_window_s: int = 60
    vi_duration_s: int = 120
    #: expected number of price jumps (the usual VI trigger) per symbol per session
    jumps_per_session: float = 0.05
    #: codes whose trading is suspended (거래정지) all day: no trades, no orderbook; REST
    #: quotes show the previous close, open/high/low 0, ``temp_stop_yn`` Y, status 58
    halted_symbols: tuple[str, ...] = ()

    #: compute every symbol up to the start time before the port listens and the market
    #: clock starts (``False``: on demand, so a mid-day start's first requests pay for it)
    warm_up: bool = True

    # -- server ---------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 0
    #: credentials the simulator accepts; ``None`` = derived from the seed (36 / 180 chars)
    app_key: str | None = None
    app_secret: str | None = None

    # -- REST -----------------------------------------------------------------------------
    #: requests per app key per window (live 20/s, paper 2/s); 0 disables the limit
    rest_rate_per_s: int = 20
    rate_window_s: float = 1.0
    #: the rate window counts market seconds (``speed`` x the wall) instead of wall seconds
    rate_in_market_time: bool = False
    token_lifetime_s: int = 86_400
    #: tokenP within this many market seconds of an issue returns the same token
    token_reuse_s: int = 21_600
    #: minimum wall seconds (market seconds with ``rate_in_market_time``) between tokenP
    #: calls per app key (EGW00133 inside it); 0 = off
    token_issue_interval_s: float = 60.0
    approval_key_lifetime_s: int = 86_400
    #: the clock tokenP states ``access_token_token_expired`` and ``expires_in`` on (tokens
    #: expire in market time either way): ``market``, what ``observer run --simulate``'s client
    #: runs on (deterministic), or ``wall``, for clients on the real clock (``observer
    #: simulate``): a market clock on a past ``--day`` would hand them an expiry days gone
    token_expiry_clock: Literal["market", "wall"] = "market"

    # -- WebSocket ------------------------------------------------------------------------
    max_registrations: int = 41
    #: seconds (wall) between PINGPONG frames; 0 = never
    ping_interval_s: float = 10.0
    #: a client that has not echoed a PINGPONG within this many wall seconds is dropped; 0 = never
    pong_timeout_s: float = 10.0
    #: probability that one push of several trades travels as ONE frame (NNN > 1)
    batch_probability: float = 0.5
    #: probability per market second that an untraded symbol's orderbook changes
    book_change_probability: float = 0.3
    #: extra trailing fields appended to every data record (field-count drift)
    extra_trailing_fields: int = 0
    #: wall seconds between publisher ticks
    publish_interval_s: float = 0.05
    #: when the publisher falls behind (or the clock jumps), at most this many market seconds
    #: are replayed; older seconds are skipped and booked in the truth log as a gap
    max_catchup_s: int = 120
    #: frames queued per WebSocket session before the simulator drops (and books) frames
    session_queue_frames: int = 10_000
    #: ack for an unknown approval key (exact code unconfirmed in the reference)
    invalid_approval_msg_cd: str = "OPSP0011"
    invalid_approval_msg1: str = "invalid approval : NOT FOUND"

    # -- faults and truth -----------------------------------------------------------------
    #: faults fired at a market time (``at``) or at once (``at`` = None)
    faults: list[FaultSpec] = []
    #: served records kept in memory (beyond it only counts are kept)
    truth_max_records: int = 2_000_000
    #: optional JSONL copy of the ground-truth log
    truth_jsonl: str | None = None

    def __repr__(self) -> str:
        shown = []
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name in ("app_key", "app_secret") and value is not None:
                value = f"{value[:4]}…({len(value)} chars)"
            shown.append(f"{name}={value!r}")
        return f"SimConfig({', '.join(shown)})"

    def __post_init__(self) -> None:
        if not 1 <= self.n_symbols <= 9000:
            raise ValueError(f"n_symbols must be 1..9000, got {self.n_symbols}")
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0, got {self.speed}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.rest_rate_per_s < 0:
            raise ValueError("rest_rate_per_s must be >= 0")
        if not 0.0 <= self.batch_probability <= 1.0:
            raise ValueError("batch_probability must be within 0..1")
        if not 0.0 <= self.book_change_probability <= 1.0:
            raise ValueError("book_change_probability must be within 0..1")
        if self.max_registrations < 1:
            raise ValueError("max_registrations must be >= 1")
        for code in self.halted_symbols:
            if len(code) != 6 or not code.isascii() or not code.isalnum():
                raise ValueError(f"halted_symbols: {code!r} is not a 6-character stock code")
        for day, (open_, close) in self.session_hours.items():
            try:
                SessionHours.of(open_, close)
            except ValueError as exc:
                raise ValueError(f"session_hours {day}: {exc}") from None
        if self.start_now and self.speed != 1.0:
            raise ValueError(
                f"start_now follows the wall clock: it needs speed 1, got {self.speed:g}"
            )
        if self.app_key is not None and len(self.app_key) < 8:
            raise ValueError("app_key is too short")
        if self.app_secret is not None and len(self.app_secret) < 8:
            raise ValueError("app_secret is too short")


def load_sim_config(
    path: Path | str, *, defaults: dict[str, Any] | None = None, **overrides: Any
) -> SimConfig:
    """Read a TOML (``.toml``) or JSON config file; ``overrides`` win over the file, the file
    wins over ``defaults``."""
    path = Path(path)
    raw = path.read_bytes()
    data = msgspec.toml.decode(raw) if path.suffix == ".toml" else msgspec.json.decode(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table/object at the top level")
    data = {**(defaults or {}), **data}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return msgspec.convert(data, SimConfig, strict=False)
