"""The runner: Validation → Guard → Enrichment over a stream of snapshots, with the books.

A ``Pipeline`` holds a config, the folded state per (symbol, mode) and the open collection
cycles (several at once: swing and scalp interleave). ``process`` runs the three stages on
one snapshot, counts the outcome in the ledger of the snapshot's ``cycle_id`` and, only
when it was admitted, folds it into the state. Same config and same calls in the same
order → the same outcomes and ledger entries, byte for byte: nothing here reads a clock,
a random source or the environment (times come in as arguments).

    pipeline = Pipeline(PipelineConfig())
    pipeline.begin_cycle("swing-20260105-0001", mode=Mode.SWING, source=Source.KIS_REST,
                         environment=Environment.SIM, trading_day=day, started_at=t0,
                         symbols=universe)
    for snapshot in converted:
        outcome = pipeline.process(snapshot)        # Admitted → archive outcome.snapshot
    pipeline.fail("swing-20260105-0001", FailureCause.TIMEOUT, ["005930"])
    entry = pipeline.end_cycle("swing-20260105-0001", ended_at=t1)   # → archive/ledger

``apply`` folds the scheduler's own raw-journal events (``CycleStarted``, ``ScalpStruck``,
``CollectionFailed``, ``CycleEnded``) into the same calls, so re-deriving from the journal
drives the books exactly as the live run did; a ``CycleStarted`` that journals its stage
settings switches the pipeline to them (unless it is ``pinned``).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from ._config import PipelineConfig, decode_config
from ._errors import DuplicateCycleError, PipelineConfigError, UnknownCycleError
from ._ledger import CycleLedger
from ._model import (
    KST,
    CollectionFailed,
    CycleEnded,
    CycleStarted,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    ScalpStruck,
    Source,
)
from ._outcome import Admitted, Deduplicated, Outcome, Rejected
from ._stages import SymbolState, _admit_plain, _check, _derive, _Derived, _enrich, _guard

try:  # the same decision compiled (``_fast.pyx``); absent when built without a C compiler
    from ._fast import admit_plain as _admit
except ImportError:  # pragma: no cover - the wheel without its extension
    _admit = _admit_plain

__all__ = ["Pipeline"]

_SCALP = Mode.SCALP


class _Track:
    """The runner's fold of one (symbol, mode): a ``SymbolState`` it may update in place.

    Only the runner writes it (after an admission); the stages read ``last_admitted`` and
    ``recent`` exactly as of a ``SymbolState``. Updating in place spares two allocations
    per admitted snapshot. ``Pipeline.state`` hands out a frozen ``SymbolState`` view,
    the same object until the next admission.
    """

    __slots__ = ("last_admitted", "recent", "view")

    def __init__(self, last_admitted: ObservationSnapshot, recent: list[int]) -> None:
        self.last_admitted = last_admitted
        self.recent = recent  # burst-clock instants, oldest first, at most burst_max
        self.view: SymbolState | None = None

    def fold(self, admitted: ObservationSnapshot, instant: int, burst_max: int) -> None:
        self.last_admitted = admitted
        self.view = None
        if burst_max:
            recent = self.recent
            recent.append(instant)
            if len(recent) > burst_max:
                del recent[0]


class Pipeline:
    """Stages + folded state + the ledgers of the open cycles."""

    __slots__ = (
        "_cycles",
        "_days",
        "_derived",
        "_journaled",
        "_scalp",
        "_swing",
        "config",
        "pinned",
    )

    def __init__(self, config: PipelineConfig | None = None, *, pinned: bool = False) -> None:
        """``config``: the stage settings. A ``CycleStarted`` that names its own
        (``pipeline_config``, what the live run journals) switches to those from that cycle
        on, unless ``pinned``: then ``config`` stays, whatever the journal says (``observer
        rederive --config``: what would this config have derived?)."""
        self.config = config if config is not None else PipelineConfig()
        self.pinned = pinned
        self._derived = _derive(self.config)
        # the last journaled config mapping and what it decoded to (every cycle repeats it)
        self._journaled: tuple[dict[str, Any], PipelineConfig] | None = None
        # trading days whose session runs off the usual hours: their shifted config
        self._days: dict[dt.date, tuple[PipelineConfig, _Derived]] = {}
        # folded state per symbol, one dict per mode (no (symbol, mode) tuple per event)
        self._swing: dict[str, _Track] = {}
        self._scalp: dict[str, _Track] = {}
        self._cycles: dict[str, CycleLedger] = {}

    # ---------------------------------------------------------------- cycles

    def begin_cycle(
        self,
        cycle_id: str,
        *,
        mode: Mode,
        source: Source,
        environment: Environment,
        trading_day: dt.date,
        started_at: dt.datetime,
        symbols: Iterable[str] = (),
        session_open: dt.datetime | None = None,
        session_close: dt.datetime | None = None,
        config: PipelineConfig | None = None,
    ) -> CycleLedger:
        """Open a cycle that expects one observation of each of ``symbols``.

        ``session_open``/``session_close`` (aware; a naive one is a ``PipelineConfigError``)
        give the trading day's regular session;
        off the usual hours, that day's snapshots go through ``config.for_session`` (the
        phases and day bounds shifted). The latest cycle of a day that gives them decides.
        ``config``, unless the pipeline is ``pinned``, replaces the stage settings from
        this cycle on (every snapshot processed after it, of any open cycle).
        """
        if cycle_id in self._cycles:
            raise DuplicateCycleError(f"cycle {cycle_id!r} is already open")
        if config is not None and not self.pinned and config != self.config:
            try:
                self._reconfigure(config)
            except (ValueError, TypeError) as exc:
                raise PipelineConfigError(
                    f"cycle {cycle_id!r}: its config cannot place the session phases of the "
                    f"days off the usual hours: {exc}"
                ) from None
        if session_open is not None and session_close is not None:
            try:
                self._set_session(trading_day, session_open, session_close)
            except (ValueError, TypeError, AttributeError) as exc:
                raise PipelineConfigError(
                    f"cycle {cycle_id!r}: session {session_open!r}-{session_close!r} "
                    f"cannot place the session phases: {exc}"
                ) from None
        ledger = CycleLedger(
            cycle_id,
            mode=mode,
            source=source,
            environment=environment,
            trading_day=trading_day,
            started_at=started_at,
            symbols=symbols,
        )
        self._cycles[cycle_id] = ledger
        return ledger

    def _reconfigure(self, config: PipelineConfig) -> None:
        """New stage settings; the days off the usual hours get them shifted alike (all or
        nothing: a shift that fails leaves the pipeline as it was)."""
        days = {}
        for day, (known, _) in self._days.items():
            shifted = config.for_session(known.regular_open, known.regular_close)
            if shifted is not config:
                days[day] = (shifted, _derive(shifted))
        self.config = config
        self._derived = _derive(config)
        self._days = days

    def _journaled_config(self, event: CycleStarted) -> PipelineConfig | None:
        """The config a journaled cycle start names (decoded once while it repeats)."""
        mapping = event.pipeline_config
        if mapping is None or self.pinned:
            return None
        known = self._journaled
        if known is not None and known[0] == mapping:
            return known[1]
        try:
            config = decode_config(mapping)
        except PipelineConfigError as exc:
            raise PipelineConfigError(f"cycle {event.cycle_id!r}: journaled {exc}") from None
        self._journaled = (mapping, config)
        return config

    def _set_session(self, day: dt.date, opens: dt.datetime, closes: dt.datetime) -> None:
        for name, value in (("session_open", opens), ("session_close", closes)):
            if isinstance(value, dt.datetime) and value.utcoffset() is None:
                # read in the host's zone, it would shift the day differently on each machine
                raise ValueError(f"{name} {value.isoformat()} has no UTC offset")
        hours = (
            opens.astimezone(KST).time().replace(tzinfo=None),
            closes.astimezone(KST).time().replace(tzinfo=None),
        )
        known = self._days.get(day)
        if known is not None and (known[0].regular_open, known[0].regular_close) == hours:
            return  # every cycle of the day repeats it: keep the derived caches warm
        config = self.config.for_session(*hours)
        if config is self.config:
            self._days.pop(day, None)
        else:
            self._days[day] = (config, _derive(config))

    def config_for(self, trading_day: dt.date) -> PipelineConfig:
        """The config the stages use for snapshots of ``trading_day``."""
        hit = self._days.get(trading_day)
        return self.config if hit is None else hit[0]

    def ledger(self, cycle_id: str) -> CycleLedger:
        """The accumulator of an open cycle."""
        ledger = self._cycles.get(cycle_id) if type(cycle_id) is str else None
        if ledger is None:
            raise UnknownCycleError(f"no open cycle {cycle_id!r}")
        return ledger

    @property
    def open_cycles(self) -> tuple[str, ...]:
        """Ids of the open cycles, in the order they began."""
        return tuple(self._cycles)

    def expect(self, cycle_id: str, symbols: Iterable[str]) -> None:
        """The open cycle expects one more observation of each of ``symbols``."""
        self.ledger(cycle_id).expect(symbols)

    def fail(self, cycle_id: str, cause: FailureCause, symbols: Iterable[str]) -> int:
        """Book expected observations that will never arrive; returns how many."""
        return self.ledger(cycle_id).fail(cause, symbols)

    def rest_fallback(self, cycle_id: str, count: int = 1) -> None:
        """Count scalp observations of the cycle asked over REST (failed ones too)."""
        self.ledger(cycle_id).rest_fallback(count)

    def end_cycle(
        self,
        cycle_id: str,
        ended_at: dt.datetime,
        *,
        outstanding_cause: FailureCause = FailureCause.MISSED,
        seq: int = 0,
    ) -> LedgerEntry:
        """Close the cycle: what is still outstanding fails with ``outstanding_cause``."""
        entry = self.ledger(cycle_id).close(ended_at, outstanding_cause=outstanding_cause, seq=seq)
        del self._cycles[cycle_id]
        return entry

    def apply(
        self, event: CycleStarted | ScalpStruck | CollectionFailed | CycleEnded
    ) -> LedgerEntry | None:
        """Fold one scheduler event of the raw journal; ``CycleEnded`` returns the entry.

        ``CycleStarted`` opens the cycle (started at its ``scheduled_time``), ``ScalpStruck``
        adds its symbols to the open cycle's expectations and counts its REST fallbacks,
        ``CollectionFailed`` fails its symbols, ``CycleEnded`` ends the cycle at its
        receive time.
        """
        if isinstance(event, CycleStarted):
            self.begin_cycle(
                event.cycle_id,
                mode=event.mode,
                source=event.source,
                environment=event.environment,
                trading_day=event.trading_day,
                started_at=event.scheduled_time,
                symbols=event.symbols,
                session_open=event.session_open,
                session_close=event.session_close,
                config=self._journaled_config(event),
            )
            return None
        if isinstance(event, ScalpStruck):
            ledger = self.ledger(event.cycle_id)
            ledger.expect(event.symbols)
            ledger.rest_fallback(len(event.fallback_symbols))
            return None
        if isinstance(event, CollectionFailed):
            self.fail(event.cycle_id, event.cause, event.symbols)
            return None
        if isinstance(event, CycleEnded):
            return self.end_cycle(event.cycle_id, event.receive_time, seq=event.seq)
        raise TypeError(f"not a scheduler event: {type(event).__name__}")

    # ---------------------------------------------------------------- snapshots

    def state(self, symbol: str, mode: Mode) -> SymbolState | None:
        """The folded state of (symbol, mode), ``None`` before its first admission."""
        track = (self._scalp if mode is Mode.SCALP else self._swing).get(symbol)
        if track is None:
            return None
        if track.view is None:
            track.view = SymbolState(track.last_admitted, tuple(track.recent))
        return track.view

    def process(self, snapshot: ObservationSnapshot) -> Outcome:
        """Validation → Guard → Enrichment; count the outcome; fold it if admitted.

        Raises ``UnknownCycleError`` when ``snapshot.cycle_id`` names no open cycle (a
        caller's mistake: the converter stamps the cycle). Never raises for bad content.
        """
        if type(snapshot) is not ObservationSnapshot:
            raise TypeError(
                f"process() takes an ObservationSnapshot, got {type(snapshot).__name__}"
            )
        cycle_id = snapshot.cycle_id
        ledger = self._cycles.get(cycle_id) if cycle_id.__class__ is str else None
        if ledger is None:
            raise UnknownCycleError(f"no open cycle {cycle_id!r} for {snapshot.symbol!r}")
        d = self._derived_for(snapshot) if self._days else self._derived
        symbol = snapshot.symbol
        # (a symbol that is no str cannot key the state: Validation rejects it); a band known
        # for the day, for a snapshot without limits of its own, is the general path's (the
        # limits are looked at first only to spare the common quote a call)
        if symbol.__class__ is str and (
            (snapshot.lower_limit is not None and snapshot.upper_limit is not None)
            or self._band(snapshot) is None
        ):
            tracks = self._scalp if snapshot.mode is _SCALP else self._swing
            track = tracks.get(symbol)
            admitted = _admit(snapshot, track, d)
            if admitted is not None:  # the common cases, decided in one pass
                if admitted.__class__ is Deduplicated:
                    ledger.record(admitted)
                    return admitted
                enriched, instant = admitted  # type: ignore[misc]
                n = d.scalp.burst_max if snapshot.mode is _SCALP else d.swing.burst_max
                if track is None:
                    tracks[symbol] = _Track(enriched, [instant] if n else [])
                else:
                    track.fold(enriched, instant, n)
                ledger.record_admitted(symbol)
                return Admitted(enriched)
        return self._process(snapshot, ledger)

    def _band(self, snapshot: ObservationSnapshot) -> tuple[int, int] | None:
        """For a snapshot without both daily limits of its own: the symbol's limits on its
        trading day, from the last admitted snapshot of either mode that carried both (the
        swing quote, a REST fallback). ``None`` when it has its own, or none is known."""
        if snapshot.lower_limit is not None and snapshot.upper_limit is not None:
            return None
        symbol = snapshot.symbol
        for tracks in (self._swing, self._scalp):
            track = tracks.get(symbol)
            if track is not None:
                known = track.last_admitted
                lower, upper = known.lower_limit, known.upper_limit
                if (
                    lower is not None
                    and upper is not None
                    and known.trading_day == snapshot.trading_day
                ):
                    return lower, upper
        return None

    def _derived_for(self, snapshot: ObservationSnapshot) -> _Derived:
        day = snapshot.trading_day
        hit = self._days.get(day) if day.__class__ is dt.date else None
        return self._derived if hit is None else hit[1]

    def _process(self, snapshot: ObservationSnapshot, ledger: CycleLedger) -> Outcome:
        """The general path: each stage in turn, saying why when one does not admit."""
        d = self._derived_for(snapshot)
        checked = _check(snapshot, d)
        if type(checked) is Rejected:
            ledger.record(checked)
            return checked
        day, tod, lag = checked  # type: ignore[misc]
        if snapshot.mode is Mode.SCALP:
            tracks, m = self._scalp, d.scalp
        else:
            tracks, m = self._swing, d.swing
        symbol = snapshot.symbol
        track = tracks.get(symbol)
        instant = day * 86_400_000_000 + tod
        if not m.burst_on_exchange:
            instant += lag
        phase = bisect_right(d.phase_starts, tod)  # index into d.phases
        not_admitted = _guard(snapshot, track, d, m, phase, lag, instant, self._band(snapshot))
        if not_admitted is not None:
            ledger.record(not_admitted)
            return not_admitted
        enriched = _enrich(snapshot, track, d, phase, lag)
        n = m.burst_max
        if track is None:
            tracks[symbol] = _Track(enriched, [instant] if n else [])
        else:
            track.fold(enriched, instant, n)
        ledger.record_admitted(symbol)
        return Admitted(enriched)
