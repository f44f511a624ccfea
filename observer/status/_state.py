"""What a running collector knows about itself, read by the status endpoint and the terminal.

``RunStatus`` is written by the collectors (one event loop, no locks needed) and read on
demand by ``/v1/session/status``, ``/v1/metrics/quote``, ``/v1/quotes/{symbol}``, ``/metrics``
and the one-line terminal status. It holds counters and the latest snapshot per symbol
(bounded by the universe), never a history.

``MeteredSendStream`` wraps a bounded anyio memory stream's send side and counts how often a
sender had to wait (backpressure), beside the stream's own ``statistics()``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream, MemoryObjectStreamStatistics

from pipeline import KST, LedgerEntry, ObservationSnapshot, loss_count

__all__ = [
    "QUOTE_METRIC_KEYS",
    "MeteredSendStream",
    "RunState",
    "RunStatus",
    "StreamStats",
]

T = TypeVar("T")

# The runbook's keys for GET /v1/metrics/quote, exactly.
QUOTE_METRIC_KEYS = (
    "cached_symbols",
    "ws_messages",
    "rest_fallbacks",
    "ws_connected",
    "last_ws_message_ts",
    "ws_heartbeat_fresh",
    "ws_reconnect_count",
    "ws_last_error",
)


class RunState(enum.StrEnum):
    STARTING = "starting"
    WAITING = "waiting"  # before the login time
    LOGGING_IN = "logging_in"
    COLLECTING = "collecting"
    CLOSING = "closing"
    DONE = "done"
    FAILED = "failed"


@dataclass
class StreamStats:
    """Backpressure of one bounded stream: its live statistics plus counted waits."""

    sends: int = 0
    blocked_sends: int = 0  # sends that found the buffer full and had to wait
    blocked_seconds: float = 0.0
    statistics: Callable[[], MemoryObjectStreamStatistics] | None = None


class MeteredSendStream(Generic[T]):
    """The send side of a bounded memory stream that counts waits for the metrics."""

    def __init__(self, stream: MemoryObjectSendStream[T], stats: StreamStats) -> None:
        self._stream = stream
        self._stats = stats
        stats.statistics = stream.statistics

    async def send(self, item: T) -> None:
        self._stats.sends += 1
        try:
            self._stream.send_nowait(item)
        except anyio.WouldBlock:
            self._stats.blocked_sends += 1
            started = anyio.current_time()
            await self._stream.send(item)
            self._stats.blocked_seconds += anyio.current_time() - started

    async def aclose(self) -> None:
        await self._stream.aclose()

    def close(self) -> None:
        self._stream.close()


@dataclass
class RunStatus:
    """Counters and latest state of one ``observer run`` (one writer: the event loop)."""

    now: Callable[[], dt.datetime]
    environment: str = "sim"
    archive_root: str = ""
    state: RunState = RunState.STARTING
    trading_day: dt.date | None = None
    session_open: dt.datetime | None = None
    session_close: dt.datetime | None = None
    login_at: dt.datetime | None = None  # the session's login tick (token, socket)
    started_at: dt.datetime | None = None
    scalp_symbols: tuple[str, ...] = ()
    universe_size: int = 0
    # accounting, from the ledger entries
    cycles: dict[str, int] = field(default_factory=dict)  # by mode
    expected: dict[str, int] = field(default_factory=dict)  # by mode
    archived: dict[str, int] = field(default_factory=dict)  # by mode
    deduplicated: dict[str, int] = field(default_factory=dict)  # by mode
    lost: dict[str, int] = field(default_factory=dict)  # by mode
    failed: dict[str, int] = field(default_factory=dict)  # by cause
    raw_events: int = 0
    snapshots: int = 0
    # quote / socket
    latest: dict[str, ObservationSnapshot] = field(default_factory=dict)
    cached_symbols: int = 0  # symbols with socket state
    ws_messages: int = 0  # every WebSocket message received: data frames and control alike
    rest_fallbacks: int = 0  # scalp observations asked over REST (the ledger's, failed included)
    ws_connected: bool = False
    last_ws_message: dt.datetime | None = None  # any frame, PINGPONG included
    ws_reconnect_count: int = 0
    ws_last_error: str | None = None
    # data records wider than their TR's known layout (fields KIS added: parsed, counted)
    ws_extra_field_records: int = 0
    heartbeat_timeout: dt.timedelta = dt.timedelta(seconds=60)
    # streams, by name
    streams: dict[str, StreamStats] = field(default_factory=dict)

    def stream(self, name: str) -> StreamStats:
        return self.streams.setdefault(name, StreamStats())

    def book(self, entry: LedgerEntry) -> None:
        """Add one cycle's ledger entry to the running totals."""
        mode = str(entry.mode)
        loss = loss_count(entry)
        self.cycles[mode] = self.cycles.get(mode, 0) + 1
        self.expected[mode] = self.expected.get(mode, 0) + entry.expected
        self.archived[mode] = self.archived.get(mode, 0) + entry.archived
        self.deduplicated[mode] = self.deduplicated.get(mode, 0) + entry.deduplicated
        self.lost[mode] = self.lost.get(mode, 0) + loss
        for cause, count in entry.failed.items():
            self.failed[cause] = self.failed.get(cause, 0) + count

    def observe(self, snapshot: ObservationSnapshot) -> None:
        """Remember the latest archived snapshot of its symbol."""
        self.snapshots += 1
        self.latest[snapshot.symbol] = snapshot

    @property
    def total_expected(self) -> int:
        return sum(self.expected.values())

    @property
    def total_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def loss_rate(self) -> float:
        expected = self.total_expected
        return self.total_lost / expected if expected else 0.0

    def heartbeat_fresh(self) -> bool:
        last = self.last_ws_message
        return last is not None and self.now() - last <= self.heartbeat_timeout

    def quote_metrics(self) -> dict[str, object]:
        """``GET /v1/metrics/quote``: exactly the runbook keys."""
        last = self.last_ws_message
        return {
            "cached_symbols": self.cached_symbols,
            "ws_messages": self.ws_messages,
            "rest_fallbacks": self.rest_fallbacks,
            "ws_connected": self.ws_connected,
            "last_ws_message_ts": None if last is None else last.isoformat(),
            "ws_heartbeat_fresh": self.heartbeat_fresh(),
            "ws_reconnect_count": self.ws_reconnect_count,
            "ws_last_error": self.ws_last_error,
        }

    def session_status(self) -> dict[str, object]:
        """``GET /v1/session/status``."""

        def iso(value: dt.datetime | dt.date | None) -> str | None:
            if isinstance(value, dt.datetime):  # every instant in KST, as the session's are
                value = value.astimezone(KST)
            return None if value is None else value.isoformat()

        return {
            "state": str(self.state),
            "environment": self.environment,
            "archive_root": self.archive_root,
            "trading_day": iso(self.trading_day),
            "session_open": iso(self.session_open),
            "session_close": iso(self.session_close),
            "login_at": iso(self.login_at),
            "started_at": iso(self.started_at),
            "now": iso(self.now()),
            "universe_size": self.universe_size,
            "scalp_symbols": list(self.scalp_symbols),
            "cycles": dict(sorted(self.cycles.items())),
            "expected": self.total_expected,
            "archived": sum(self.archived.values()),
            "deduplicated": sum(self.deduplicated.values()),
            "lost": self.total_lost,
            "loss_rate": self.loss_rate,
            "failed": dict(sorted(self.failed.items())),
            "raw_events": self.raw_events,
            "snapshots": self.snapshots,
            "ws_connected": self.ws_connected,
        }

    def line(self) -> str:
        """The one-line terminal status (short enough for an 80-column terminal)."""
        socket = "up" if self.ws_connected else "down"
        now = self.now()
        login = self.login_at
        if self.state is RunState.WAITING and login is not None and login > now:
            # hours may pass before the login tick: say what comes, and when
            cycles = f"{self.trading_day} login {login.astimezone(KST):%H:%M} in " + _countdown(
                login - now
            )
        else:
            cycles = " ".join(f"{mode} {n}" for mode, n in sorted(self.cycles.items())) or "-"
        return (
            f"{self.state} {now.astimezone(KST):%H:%M:%S} | {cycles} | "
            f"snap {self.snapshots} | loss {self.total_lost}/{self.total_expected} "
            f"{self.loss_rate:.3%} | ws {socket} {self.ws_reconnect_count}r "
            f"| fb {self.rest_fallbacks}"
        )


def _countdown(left: dt.timedelta) -> str:
    """``2d3h``, ``6h04m``, ``4m09s`` or ``12s``: the two largest units, the rest cut off
    (whole seconds rounded up first: a countdown never shows ``0s`` before its time)."""
    seconds = -(-left // dt.timedelta(seconds=1))  # ceiling: never "in 0s" before it fires
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
