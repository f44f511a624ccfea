"""The naive baseline of the ingest benchmark: the same job, written the plain way.

Dicts for events, the three stages as plain functions over them, a ``Counter`` per cycle for
the ledger, stdlib ``json.dumps`` and one gzip-6 stream written line by line. The rules and
their limits are the pipeline's (read from the same ``PipelineConfig``), and the benchmark
checks that this baseline admits the same snapshots and computes the same enrichment as the
pipeline, so the comparison is between two ways of doing one job, not two jobs.

Nothing here is made slow on purpose: it is what a first working version looks like.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter, deque
from pathlib import Path
from typing import Any

from pipeline import KST, PipelineConfig, SessionPhase, tick_size

Record = dict[str, Any]

# field → (accepted types, may be None); ints exclude bool
FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "schema_version": ((int,), False),
    "seq": ((int,), False),
    "symbol": ((str,), False),
    "market": ((str,), False),
    "mode": ((str,), False),
    "source": ((str,), False),
    "environment": ((str,), False),
    "trading_day": ((dt.date,), False),
    "exchange_time": ((dt.datetime,), False),
    "receive_time": ((dt.datetime,), False),
    "cycle_id": ((str,), False),
    "last": ((int,), False),
    "open": ((int,), True),
    "high": ((int,), True),
    "low": ((int,), True),
    "prev_close": ((int,), True),
    "upper_limit": ((int,), True),
    "lower_limit": ((int,), True),
    "change": ((int,), True),
    "change_rate_pct": ((float, int), True),
    "volume": ((int,), True),
    "turnover": ((int,), True),
    "bid": ((int,), True),
    "ask": ((int,), True),
    "bid_size": ((int,), True),
    "ask_size": ((int,), True),
    "bid_prices": ((list,), False),
    "bid_sizes": ((list,), False),
    "ask_prices": ((list,), False),
    "ask_sizes": ((list,), False),
    "vi_active": ((bool,), True),
    "vi_ref_price": ((int,), True),
    "halted": ((bool,), True),
    "hour_cls_code": ((str,), True),
    "status_code": ((str,), True),
}
PRICES = ("last", "open", "high", "low", "prev_close", "upper_limit", "lower_limit", "bid", "ask")
QUANTITIES = ("volume", "turnover", "bid_size", "ask_size")
CONTENT = (
    "symbol", "last", "open", "high", "low", "prev_close", "upper_limit", "lower_limit",
    "change", "change_rate_pct", "volume", "turnover", "bid", "ask", "bid_size", "ask_size",
    "bid_prices", "bid_sizes", "ask_prices", "ask_sizes", "vi_active", "vi_ref_price",
    "halted", "hour_cls_code", "status_code", "exchange_time",
)  # fmt: skip


def validate(rec: Record, config: PipelineConfig) -> str | None:
    """None when well-formed and plausible, else the reason."""
    for name, (types, optional) in FIELD_TYPES.items():
        value = rec.get(name)
        if value is None:
            if not optional:
                return "missing_field"
        elif not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return "wrong_type"
    if not re.fullmatch(config.validation.symbol_pattern, rec["symbol"]):
        return "bad_symbol"
    for name in PRICES:
        if rec[name] is not None and rec[name] <= 0:
            return "non_positive_price"
    for name in QUANTITIES:
        if rec[name] is not None and rec[name] < 0:
            return "negative_quantity"
    low, high = rec["low"], rec["high"]
    if low is not None and high is not None and not low <= rec["last"] <= high:
        return "outside_day_range"
    lower, upper = rec["lower_limit"], rec["upper_limit"]
    if lower is not None and upper is not None and not lower <= rec["last"] <= upper:
        return "outside_limit_band"
    if rec["bid"] is not None and rec["ask"] is not None and rec["bid"] > rec["ask"]:
        return "crossed_quote"
    local = rec["exchange_time"].astimezone(KST)
    if local.date() != rec["trading_day"]:
        return "outside_trading_day"
    if not config.validation.day_start <= local.time() <= config.validation.day_end:
        return "outside_trading_day"
    return None


def session_phase(local_time: dt.time, config: PipelineConfig) -> SessionPhase:
    phase = SessionPhase.CLOSED
    for row in config.phases:
        if row.start <= local_time:
            phase = row.phase
    return phase


def guard(
    rec: Record, state: dict[str, Any] | None, config: PipelineConfig
) -> tuple[str, str] | None:
    """None when admitted, else ("dropped" | "deduplicated", reason)."""
    limits = config.guard.scalp if rec["mode"] == "scalp" else config.guard.swing
    lag = rec["receive_time"] - rec["exchange_time"]
    if lag > dt.timedelta(milliseconds=limits.max_staleness_ms):
        return ("dropped", "stale")
    if -lag > dt.timedelta(milliseconds=limits.max_lead_ms):
        return ("dropped", "from_the_future")
    phase = session_phase(rec["exchange_time"].astimezone(KST).time(), config)
    if phase in config.guard.closed_phases:
        return ("dropped", "out_of_session")
    if state is not None:
        prev = state["last_admitted"]
        if all(rec[name] == prev[name] for name in CONTENT):
            return ("deduplicated", "duplicate")
        recent = state["recent"]
        window = dt.timedelta(milliseconds=limits.burst_window_ms)
        if len(recent) >= limits.burst_max and (
            rec["receive_time"] - recent[-limits.burst_max] < window
        ):
            return ("dropped", "burst")
    reference = rec["prev_close"]
    if reference is None and state is not None:
        reference = state["last_admitted"]["last"]
    if reference and abs(rec["last"] - reference) / reference > config.guard.max_jump_bps / 10_000:
        return ("dropped", "jump")
    return None


def enrich(rec: Record, state: dict[str, Any] | None, config: PipelineConfig) -> dict[str, Any]:
    lag = rec["receive_time"] - rec["exchange_time"]
    bid, ask, last = rec["bid"], rec["ask"], rec["last"]
    mid = spread = ret = prev_time = None
    if bid is not None and ask is not None:
        mid = (bid + ask) / 2
        spread = (ask - bid) * 20_000 / (bid + ask)
        if config.enrichment.spread_bps_digits is not None:
            spread = round(spread, config.enrichment.spread_bps_digits)
    if state is not None:
        prev = state["last_admitted"]
        prev_time = prev["exchange_time"]
        ret = (last - prev["last"]) / prev["last"]
        if config.enrichment.return_digits is not None:
            ret = round(ret, config.enrichment.return_digits)
    return {
        "session_phase": str(session_phase(rec["exchange_time"].astimezone(KST).time(), config)),
        "staleness_ms": lag // dt.timedelta(milliseconds=1),
        "mid": mid,
        "spread_bps": spread,
        "return_since_prev": ret,
        "prev_exchange_time": prev_time,
        "tick_conforming": all(p % tick_size(p) == 0 for p in (last, bid, ask) if p is not None),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class NaivePipeline:
    """Stages over dicts, a Counter ledger per cycle, json.dumps into gzip-6 line by line."""

    def __init__(self, path: Path, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self.state: dict[tuple[str, str], dict[str, Any]] = {}
        self.ledgers: dict[str, Counter[str]] = {}
        self.out = gzip.open(path, "wt", compresslevel=6, encoding="utf-8")  # noqa: SIM115
        self.ledger_out = gzip.open(  # noqa: SIM115
            path.with_name(path.name.replace(".jsonl", ".ledger.jsonl")),
            "wt",
            compresslevel=6,
            encoding="utf-8",
        )

    def begin_cycle(self, cycle_id: str, symbols: list[str]) -> None:
        self.ledgers[cycle_id] = Counter(expected=len(symbols))

    def process(self, rec: Record) -> bool:
        ledger = self.ledgers[rec["cycle_id"]]
        ledger["received"] += 1
        reason = validate(rec, self.config)
        if reason is not None:
            ledger["rejected:" + reason] += 1
            return False
        key = (rec["symbol"], rec["mode"])
        state = self.state.get(key)
        verdict = guard(rec, state, self.config)
        if verdict is not None:
            ledger[verdict[0] + ":" + verdict[1]] += 1
            return False
        rec["enrichment"] = enrich(rec, state, self.config)
        if state is None:
            state = self.state[key] = {"last_admitted": rec, "recent": deque()}
        state["last_admitted"] = rec
        state["recent"].append(rec["receive_time"])
        while len(state["recent"]) > max(
            self.config.guard.swing.burst_max, self.config.guard.scalp.burst_max
        ):
            state["recent"].popleft()
        self.out.write(json.dumps(rec, default=_plain) + "\n")
        ledger["archived"] += 1
        return True

    def end_cycle(self, cycle_id: str) -> None:
        ledger = self.ledgers.pop(cycle_id)
        self.ledger_out.write(json.dumps({"cycle_id": cycle_id, **ledger}) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.close()
        self.ledger_out.close()


def as_dict(row: tuple[Any, ...], seq: int, cycle_id: str, day: dt.date) -> Record:
    """The converter's output for one row, as a dict (the naive event)."""
    return {
        "schema_version": 1,
        "seq": seq,
        "symbol": row[0],
        "market": str(row[1]),
        "mode": "swing",
        "source": "kis-rest",
        "environment": "sim",
        "trading_day": day,
        "exchange_time": row[2],
        "receive_time": row[3],
        "cycle_id": cycle_id,
        "last": row[4],
        "open": row[5],
        "high": row[6],
        "low": row[7],
        "prev_close": row[8],
        "upper_limit": row[9],
        "lower_limit": row[10],
        "change": row[11],
        "change_rate_pct": row[12],
        "volume": row[13],
        "turnover": row[14],
        "bid": row[15],
        "ask": row[16],
        "bid_size": row[17],
        "ask_size": row[18],
        "bid_prices": [],
        "bid_sizes": [],
        "ask_prices": [],
        "ask_sizes": [],
        "vi_active": None,
        "vi_ref_price": None,
        "halted": None,
        "hour_cls_code": row[19],
        "status_code": row[20],
        "lineage": {
            "raw_mode": "swing",
            "raw_source": "kis-rest",
            "raw_seqs": [seq],
            "record_index": 0,
        },
    }
