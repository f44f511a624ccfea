"""The ground-truth log: every record the simulator served, and every fault it injected.

Compact in memory: served records are held as columns (``array``), about 40 bytes each, up to
``max_records``; past that only the counts go on (``truncated`` says so). Counts by channel
and by (channel, symbol) are always exact. Optionally every entry is also appended to a JSONL
file.

Channels are the TR ids: ``H0STCNT0`` / ``H0STASP0`` (WebSocket records, one entry per record,
so a frame with NNN = 3 gives three entries) and ``FHKST01010100`` / ``FHKST11300006`` /
``FHKST01010200`` / ``FHPUP02100000`` (REST rows). ``connection`` is the WebSocket session id
or, for REST, the request number. ``flag`` marks a record deliberately damaged by a fault
(``short`` / ``long``) — a correct client rejects a short record and keeps a long one.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import msgspec

from pipeline import KST

from ._market import USUAL_HOURS, SessionHours

__all__ = ["FaultRecord", "GroundTruth", "ServedRecord", "TruthEvent"]

_FLAGS = ("", "short", "long")


class ServedRecord(msgspec.Struct, frozen=True):
    """One record as served."""

    channel: str
    symbol: str
    #: exchange time the record carries (KST)
    exchange_time: dt.datetime
    #: market time it was served at (KST)
    served_at: dt.datetime
    price: int
    #: trade volume (H0STCNT0), cumulative volume (REST rows), 0 (orderbooks)
    volume: int
    #: cumulative volume after the record
    acml_vol: int
    connection: int
    flag: str = ""


class FaultRecord(msgspec.Struct, frozen=True):
    """One injected fault, when it fired, and what it touched."""

    kind: str
    at: dt.datetime
    detail: dict[str, Any] = {}


class TruthEvent(msgspec.Struct, frozen=True):
    """Something else the simulator did that a test may need to know (a client dropped for
    not answering PINGPONG, frames skipped when the publisher fell behind, ...)."""

    kind: str
    at: dt.datetime
    detail: dict[str, Any] = {}


class GroundTruth:
    """Append-only log of what was served; queryable by symbol, channel and connection."""

    def __init__(
        self,
        day: dt.date,
        *,
        max_records: int = 2_000_000,
        jsonl: str | None = None,
        hours: SessionHours = USUAL_HOURS,
    ):
        self._day = day
        self._hours = hours
        self.max_records = max_records
        self._channels: list[str] = []
        self._channel_ix: dict[str, int] = {}
        self._symbols: list[str] = []
        self._symbol_ix: dict[str, int] = {}
        self._c_channel = array("B")
        self._c_symbol = array("H")
        self._c_second = array("i")
        self._c_served = array("d")  # market seconds since the session start, fractional
        self._c_price = array("q")
        self._c_volume = array("q")
        self._c_acml = array("q")
        self._c_conn = array("i")
        self._c_flag = array("B")
        self.counts: Counter[str] = Counter()
        self.symbol_counts: Counter[tuple[str, str]] = Counter()
        self.suppressed: Counter[str] = Counter()
        self.faults: list[FaultRecord] = []
        self.events: list[TruthEvent] = []
        self.truncated = False
        self._jsonl: IO[bytes] | None = (
            Path(jsonl).open("ab")  # noqa: SIM115 - lives as long as the log; close() ends it
            if jsonl
            else None
        )
        self._enc = msgspec.json.Encoder()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None

    def _ix(self, table: list[str], index: dict[str, int], key: str) -> int:
        ix = index.get(key)
        if ix is None:
            ix = len(table)
            table.append(key)
            index[key] = ix
        return ix

    def _served_seconds(self, served_at: dt.datetime) -> float:
        return (served_at - self._hours.to_datetime(self._day, 0)).total_seconds()

    def record(
        self,
        channel: str,
        rows: Iterable[tuple[str, int, int, int, int]],
        served_at: dt.datetime,
        connection: int,
        flag: str = "",
    ) -> int:
        """Book served rows ``(symbol, exchange second, price, volume, acml_vol)``."""
        ch = self._ix(self._channels, self._channel_ix, channel)
        served = self._served_seconds(served_at)
        fl = _FLAGS.index(flag)
        n = 0
        for symbol, second, price, volume, acml in rows:
            n += 1
            self.symbol_counts[(channel, symbol)] += 1
            if len(self._c_channel) >= self.max_records:
                self.truncated = True
            else:
                self._c_channel.append(ch)
                self._c_symbol.append(self._ix(self._symbols, self._symbol_ix, symbol))
                self._c_second.append(second)
                self._c_served.append(served)
                self._c_price.append(price)
                self._c_volume.append(volume)
                self._c_acml.append(acml)
                self._c_conn.append(connection)
                self._c_flag.append(fl)
            if self._jsonl is not None:
                self._jsonl.write(
                    self._enc.encode(
                        {
                            "type": "served",
                            "channel": channel,
                            "symbol": symbol,
                            "exchange_time": self._hours.to_datetime(self._day, second),
                            "served_at": served_at.astimezone(KST),
                            "price": price,
                            "volume": volume,
                            "acml_vol": acml,
                            "connection": connection,
                            "flag": flag,
                        }
                    )
                    + b"\n"
                )
        self.counts[channel] += n
        return n

    def record_fault(self, kind: str, at: dt.datetime, **detail: Any) -> FaultRecord:
        rec = FaultRecord(kind, at.astimezone(KST), detail)
        self.faults.append(rec)
        self._write_side("fault", rec)
        return rec

    def record_event(self, kind: str, at: dt.datetime, **detail: Any) -> TruthEvent:
        ev = TruthEvent(kind, at.astimezone(KST), detail)
        if len(self.events) < 100_000:
            self.events.append(ev)
        self._write_side("event", ev)
        return ev

    def _write_side(self, typ: str, rec: FaultRecord | TruthEvent) -> None:
        if self._jsonl is not None:
            self._jsonl.write(
                self._enc.encode({"type": typ, **msgspec.structs.asdict(rec)}) + b"\n"
            )

    # -- queries -------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(self.counts.values())

    def count(self, symbol: str | None = None, channel: str | None = None) -> int:
        """Served records (exact even past ``max_records``)."""
        if symbol is None:
            return self.counts[channel] if channel is not None else len(self)
        if channel is not None:
            return self.symbol_counts[(channel, symbol)]
        return sum(v for (_c, s), v in self.symbol_counts.items() if s == symbol)

    def served(
        self,
        symbol: str | None = None,
        channel: str | None = None,
        connection: int | None = None,
    ) -> list[ServedRecord]:
        """Served records in serving order (only those held in memory)."""
        ch = self._channel_ix.get(channel, -1) if channel is not None else None
        sy = self._symbol_ix.get(symbol, -1) if symbol is not None else None
        start = self._hours.to_datetime(self._day, 0)
        out: list[ServedRecord] = []
        for i in range(len(self._c_channel)):
            if ch is not None and self._c_channel[i] != ch:
                continue
            if sy is not None and self._c_symbol[i] != sy:
                continue
            if connection is not None and self._c_conn[i] != connection:
                continue
            out.append(
                ServedRecord(
                    self._channels[self._c_channel[i]],
                    self._symbols[self._c_symbol[i]],
                    self._hours.to_datetime(self._day, self._c_second[i]),
                    start + dt.timedelta(seconds=self._c_served[i]),
                    self._c_price[i],
                    self._c_volume[i],
                    self._c_acml[i],
                    self._c_conn[i],
                    _FLAGS[self._c_flag[i]],
                )
            )
        return out

    def summary(self) -> dict[str, Any]:
        """Counts for the admin endpoint and reports."""
        return {
            "day": self._day.isoformat(),
            "served": dict(sorted(self.counts.items())),
            "suppressed": dict(sorted(self.suppressed.items())),
            "held_in_memory": len(self._c_channel),
            "truncated": self.truncated,
            "faults": [msgspec.structs.asdict(f) for f in self.faults],
            "events": dict(sorted(Counter(e.kind for e in self.events).items())),
        }
