"""The projection: the raw journal folded, deterministically, into snapshots and ledger entries.

This is the heart of the event sourcing. ``Projector.feed(raw_event)`` takes one journaled
event (with its ``seq``) and returns what it projects to, in order. It drives
``pipeline.Pipeline`` (Validation → Guard → Enrichment plus the cycles' ledgers):

- ``CycleStarted``: a cycle opens (``Pipeline.apply``). A swing cycle expects one
  observation of each listed symbol; a scalp cycle (one a minute) starts empty.
- ``ScalpStruck``: the second's symbols are added to the open scalp cycle's expectations
  and its REST fallbacks counted (``Pipeline.apply``); every symbol not in
  ``fallback_symbols`` gets one snapshot merged from the trade and orderbook frames received
  *before* the strike (``observer.kis.ScalpBook``).
- ``WsFrame``: data frames are folded into the latest trade and orderbook per symbol;
  nothing is emitted. Control frames change nothing.
- ``RestResponse``: decoded with the KIS converters; each row becomes a snapshot of the
  response's cycle (swing rows, or a scalp second's REST fallback, ``source=kis-rest``).
  A row that does not convert, a symbol asked for and missing from the answer, or a
  non-success envelope is booked as failed (``parse``, or the cause the envelope names).
  In a scalp cycle a fallback row answers *every* strike still waiting for that symbol (the
  collector keeps one request in flight per symbol; the repeats are the same content and so
  deduplicated, not lost).
- ``CollectionFailed``: the listed symbols still outstanding in the cycle failed, by cause
  (in a scalp cycle, once per strike waiting for them).
- ``CycleEnded``: the cycle closes; what is still outstanding is failed (``missed``) and its
  ``LedgerEntry`` comes out, numbered with the ``CycleEnded`` event's raw seq.

Every snapshot goes through ``Pipeline.process``; only admitted ones come out, numbered
1, 2, … per snapshot partition (trading day, mode, source) in projection order.

Nothing here reads a clock, a random source or the environment: the same journal gives the
same records, byte for byte. The live collectors journal first and then feed the *same*
projector, so ``project_journal`` over the archived raw journal (``observer rederive``)
reproduces the snapshot and ledger archives exactly. A run that resumes a day first replays
the day's journal through ``restore`` so that its state and numbering continue where one
uninterrupted projection would be. Events that name a cycle that is not open (a journal
cut in the middle) are counted in ``unknown_cycle_events``, never raised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from pipeline import (
    Admitted,
    CollectionFailed,
    CycleEnded,
    CycleLedger,
    CycleStarted,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    Pipeline,
    PipelineConfig,
    RawEvent,
    RestResponse,
    ScalpStruck,
    WsFrame,
)

__all__ = [
    "Projected",
    "Projector",
    "failure_cause",
    "project_journal",
]

Projected = ObservationSnapshot | LedgerEntry


def failure_cause(error: BaseException) -> FailureCause:
    """The ledger cause of a failed request (KIS errors by class, then by layer)."""
    from observer import _errors as base
    from observer.kis import _errors as kis

    if isinstance(error, kis.KisRateLimited):
        return FailureCause.RATE_LIMIT
    if isinstance(error, base.AuthError | kis.KisTokenInvalid):
        return FailureCause.AUTH
    if isinstance(error, kis.KisTimeout | TimeoutError):
        return FailureCause.TIMEOUT
    if isinstance(error, kis.KisServerError):
        return FailureCause.SERVER_ERROR
    if isinstance(error, base.TransportError | OSError):
        return FailureCause.DISCONNECT
    if isinstance(error, base.ProtocolError | base.ConversionError):
        return FailureCause.PARSE
    return FailureCause.SERVER_ERROR


class Projector:
    """Folds raw events into numbered snapshots and ledger entries (see the module doc)."""

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        *,
        environment: Environment = Environment.SIM,
    ) -> None:
        from observer.kis import ScalpBook

        self.pipeline = pipeline if pipeline is not None else Pipeline(PipelineConfig())
        self.environment = environment
        self._book_type = ScalpBook
        self._book: Any = None
        self._book_day: dt.date | None = None
        self._seqs: dict[tuple[dt.date, str, str], int] = {}
        self._fallback_at: dict[str, dt.datetime] = {}  # last strike that fell back, by symbol
        self._waiting: dict[tuple[str, str], int] = {}  # (scalp cycle, symbol): strikes waiting
        self._cycle_symbols: dict[str, dict[str, None]] = {}  # open cycle -> symbols it expects
        self.ws_rejections = 0  # data records on the socket that could not be converted
        self.unknown_cycle_events = 0  # events naming a cycle that is not open

    # ------------------------------------------------------------------ state for the live side

    def last_seen(self, symbol: str) -> dt.datetime | None:
        """Receive time of the latest trade or orderbook frame of ``symbol``.

        ``None`` until a trade of the symbol arrived: an orderbook alone has no last price,
        so a snapshot of it could not pass Validation.
        """
        book = self._book
        if book is None:
            return None
        trade, quote = book.trades.get(symbol), book.books.get(symbol)
        if trade is None:
            return None
        seen: dt.datetime = trade.receive_time
        return seen if quote is None else max(seen, quote.receive_time)

    def cached_symbols(self) -> int:
        """How many symbols have socket state."""
        book = self._book
        return 0 if book is None else len(book.trades.keys() | book.books.keys())

    def stale_symbols(
        self, symbols: Iterable[str], *, as_of: dt.datetime, stale_after: dt.timedelta
    ) -> tuple[str, ...]:
        """The symbols the socket cannot serve at ``as_of``: no trade yet, no frame for
        ``stale_after``, or nothing new since the symbol last fell back to REST (its socket
        state is older than the REST answer: snapshotting it would step back in time)."""
        stale = []
        for symbol in symbols:
            seen = self.last_seen(symbol)
            fell_back = self._fallback_at.get(symbol)
            if (
                seen is None
                or as_of - seen > stale_after
                or (fell_back is not None and seen < fell_back)
            ):
                stale.append(symbol)
        return tuple(stale)

    def is_open(self, cycle_id: str) -> bool:
        return cycle_id in self.pipeline.open_cycles

    def outstanding(self, cycle_id: str) -> tuple[str, ...]:
        """What an open cycle still waits for: each symbol once per missing observation."""
        if not self.is_open(cycle_id):
            return ()
        ledger = self.pipeline.ledger(cycle_id)
        symbols = self._cycle_symbols.get(cycle_id, {})
        return tuple(s for s in sorted(symbols) for _ in range(ledger.outstanding(s)))

    # ------------------------------------------------------------------ numbering

    def _number(self, snapshot: ObservationSnapshot) -> ObservationSnapshot:
        key = (snapshot.trading_day, str(snapshot.mode), str(snapshot.source))
        seq = self._seqs.get(key, 0) + 1
        self._seqs[key] = seq
        return msgspec.structs.replace(snapshot, seq=seq)

    # ------------------------------------------------------------------ the fold

    def feed(self, event: RawEvent) -> list[Projected]:
        """Project one journaled raw event."""
        kind = type(event)
        if kind is WsFrame:
            self._on_frame(event)  # type: ignore[arg-type]
            return []
        if kind is RestResponse:
            return self._on_rest(event)  # type: ignore[arg-type]
        if kind is ScalpStruck:
            return self._on_struck(event)  # type: ignore[arg-type]
        if kind is CycleStarted:
            self._on_started(event)  # type: ignore[arg-type]
            return []
        if kind is CollectionFailed:
            self._on_failed(event)  # type: ignore[arg-type]
            return []
        if kind is CycleEnded:
            return self._on_ended(event)  # type: ignore[arg-type]
        raise TypeError(f"not a raw event: {kind.__name__}")

    def restore(self, events: Iterable[RawEvent]) -> int:
        """Fold already-archived events (a resumed day) without emitting; returns how many."""
        n = 0
        for event in events:
            self.feed(event)
            n += 1
        return n

    def _scalp_book(self, day: dt.date) -> Any:
        if self._book is None or self._book_day != day:
            self._fallback_at.clear()
            self._book = self._book_type(environment=self.environment, trading_day=day)
            self._book_day = day
        return self._book

    def _admit(self, snapshot: ObservationSnapshot) -> ObservationSnapshot | None:
        outcome = self.pipeline.process(snapshot)
        if type(outcome) is not Admitted:
            return None
        return self._number(outcome.snapshot)

    def _on_started(self, event: CycleStarted) -> None:
        if self.is_open(event.cycle_id):
            self.unknown_cycle_events += 1
            return
        self.pipeline.apply(event)
        self._cycle_symbols[event.cycle_id] = dict.fromkeys(event.symbols)

    def _on_frame(self, event: WsFrame) -> None:
        from observer.kis import DataFrame, KisError, parse_message

        try:
            message = parse_message(event.text)
        except KisError:
            self.ws_rejections += 1
            return
        if type(message) is not DataFrame:
            return
        book = self._scalp_book(event.trading_day)
        rejected = book.apply(message, raw_seq=event.seq, receive_time=event.receive_time)
        self.ws_rejections += len(rejected) + len(getattr(message, "rejections", ()))

    def _on_struck(self, event: ScalpStruck) -> list[Projected]:
        if not self.is_open(event.cycle_id):
            self.unknown_cycle_events += 1
            return []
        self.pipeline.apply(event)
        self._cycle_symbols.setdefault(event.cycle_id, {}).update(dict.fromkeys(event.symbols))
        fallback = set(event.fallback_symbols)
        for symbol in fallback:
            self._fallback_at[symbol] = event.receive_time
            key = (event.cycle_id, symbol)
            self._waiting[key] = self._waiting.get(key, 0) + 1
        book = self._scalp_book(event.trading_day)
        out: list[Projected] = []
        for symbol in event.symbols:
            if symbol in fallback:
                continue  # served by the REST responses journaled for this cycle
            snapshot = book.snapshot(symbol, cycle_id=event.cycle_id)
            if snapshot is None:
                continue  # no state: stays outstanding, failed when the cycle ends
            admitted = self._admit(snapshot)
            if admitted is not None:
                out.append(admitted)
        return out

    def _on_rest(self, event: RestResponse) -> list[Projected]:
        from observer.kis import (
            KisError,
            RestResult,
            SnapshotContext,
            classify_response,
            convert_rest_result,
        )

        if not self.is_open(event.cycle_id):
            self.unknown_cycle_events += 1
            return []
        ledger = self.pipeline.ledger(event.cycle_id)
        asked = _outstanding(ledger, self._answering(event))
        try:
            body = msgspec.json.decode(event.body)
        except msgspec.DecodeError:
            body = None
        if not isinstance(body, dict):
            ledger.fail(FailureCause.PARSE, asked)
            return []
        error = classify_response(event.status, body, tr_id=event.tr_id, path=event.path)
        if error is not None:
            ledger.fail(failure_cause(error), asked)
            return []
        result = RestResult(
            environment=event.environment,
            tr_id=event.tr_id,
            path=event.path,
            params=dict(event.params),
            status=event.status,
            text=event.body,
            body=body,
            received_at=event.receive_time,
            elapsed_ms=event.elapsed_ms or 0.0,
            symbols=event.symbols,
        )
        ctx = SnapshotContext(
            mode=event.mode,
            environment=event.environment,
            trading_day=event.trading_day,
            receive_time=event.receive_time,
            cycle_id=event.cycle_id,
            raw_seqs=(event.seq,),
        )
        try:
            converted = convert_rest_result(result, ctx)
        except KisError:
            ledger.fail(FailureCause.PARSE, asked)
            return []
        out: list[Projected] = []
        owed: dict[str, int] = {}
        for symbol in asked:
            owed[symbol] = owed.get(symbol, 0) + 1
        for snapshot in converted.snapshots:
            # a row answers every observation waiting for its symbol (a scalp fallback that
            # several seconds waited on); the repeats are the same content: deduplicated
            for _ in range(max(1, owed.pop(snapshot.symbol, 0))):
                admitted = self._admit(snapshot)
                if admitted is not None:
                    out.append(admitted)
        # Asked for and not answered (a row that did not convert, a missing row): unparseable.
        missing = _outstanding(ledger, [s for s, n in owed.items() for _ in range(n)])
        if missing:
            ledger.fail(FailureCause.PARSE, missing)
        return out

    def _on_failed(self, event: CollectionFailed) -> None:
        if not self.is_open(event.cycle_id):
            self.unknown_cycle_events += 1
            return
        ledger = self.pipeline.ledger(event.cycle_id)
        failing = _outstanding(ledger, self._answering(event))
        if failing:
            ledger.fail(event.cause, failing)

    def _answering(self, event: RestResponse | CollectionFailed) -> list[str]:
        """The observations an answer (or a failure) settles: in a scalp cycle, each symbol
        once per strike still waiting for its REST fallback; otherwise each symbol listed."""
        if event.mode is not Mode.SCALP:
            return list(event.symbols)
        out: list[str] = []
        for symbol in dict.fromkeys(event.symbols):
            waiting = self._waiting.pop((event.cycle_id, symbol), 0)
            out.extend([symbol] * max(1, waiting))
        return out

    def _on_ended(self, event: CycleEnded) -> list[Projected]:
        if not self.is_open(event.cycle_id):
            self.unknown_cycle_events += 1
            return []
        for key in [k for k in self._waiting if k[0] == event.cycle_id]:
            del self._waiting[key]
        self._cycle_symbols.pop(event.cycle_id, None)
        entry = self.pipeline.apply(event)
        return [] if entry is None else [entry]


def _outstanding(ledger: CycleLedger, symbols: Iterable[str]) -> list[str]:
    """``symbols`` (in order, repeats allowed) cut to what ``ledger`` still has outstanding."""
    taken: dict[str, int] = {}
    out: list[str] = []
    for symbol in symbols:
        n = taken.get(symbol, 0)
        if n < ledger.outstanding(symbol):
            taken[symbol] = n + 1
            out.append(symbol)
    return out


def project_journal(
    events: Iterable[RawEvent],
    *,
    config: PipelineConfig | None = None,
    environment: Environment = Environment.SIM,
    pinned: bool = False,
) -> Iterator[Projected]:
    """Every snapshot and ledger entry the raw ``events`` project to, in order (rederive).

    ``events`` must be in journal order: for a day's archive, every raw partition's events
    merged by ``seq`` (one counter spans the journal, see ``Journal``). The stages run with
    the config each ``CycleStarted`` journaled; ``config`` (default: the built-in one) serves
    until the first that names one, or throughout when ``pinned`` (``Pipeline``).
    """
    projector = Projector(
        Pipeline(config or PipelineConfig(), pinned=pinned), environment=environment
    )
    for event in events:
        yield from projector.feed(event)
