"""The scalp collector: every second, one snapshot per symbol from the socket's latest state.

Cycles: one scalp cycle a minute (``scalp-YYYYMMDD-HHMM00``, ``CycleStarted`` with no
symbols); each second's strike adds that second's expectations to it (``ScalpStruck``). A
cycle's id is the second it starts at: the run's first cycle, struck mid-minute, is named for
its first second (``scalp-YYYYMMDD-HHMMSS``), so a run that resumes a day within a minute an
earlier run collected in does not repeat that minute's cycle id.

On every second boundary the collector decides, from the projection's own state (the same
fold the snapshots are built from), which symbols are *stale*: never seen on the socket, no
frame for ``stale_after`` of market time, or the socket is down. It journals one
``ScalpStruck(second, symbols, fallback_symbols=stale)``; the projection then snapshots the
fresh symbols from the frames received before the strike, and the stale ones are fetched
over REST inside the shared rate budget (the multi-symbol price call, 30 a request, where
the account has it; the current-price call symbol by symbol otherwise) and journaled with
the cycle's id, so their snapshots come out tagged ``source=kis-rest``. Each stale symbol of
a strike counts once in the ledger's ``rest_fallbacks`` (and the status's), answered or not.
One request per symbol is in flight at a time: a strike that finds its symbol already asked
for waits for that answer, which serves both. A fallback
that fails is booked with its cause; one that does not answer within ``fallback_timeout``
(wall seconds) is booked with the cause of the error its last attempt ended with when it was
being retried (a 5xx answer is ``server_error``, EGW00201 ``rate_limit``), else as
``timeout``, or as ``auth`` when the client then has no usable token (nothing could be sent).

A strike that fired too late (``tick.missed``), and the seconds a restarted process was down
for, are booked as a separate cycle whose every expected observation is failed ``missed``:
nothing is snapshotted from thin air. Consecutive late seconds (a process stopped for a
while: its ticker fires the seconds it slept through at once) make one such cycle, booked
when the run is over: at the next strike on time, at ``finish``, when the collection is
cut, or half a wall second after the last late one.

A cycle ends (``CycleEnded``) once the minute is over and its last fallback has finished.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import anyio
import msgspec
from anyio.abc import TaskGroup

from pipeline import (
    KST,
    Environment,
    FailureCause,
    Mode,
    PipelineConfig,
    RawEvent,
    Source,
    config_mapping,
)

from .._clock import Clock
from .._errors import ConfigError, ObserverError
from ..schedule import Tick
from ..status import RunStatus
from ._events import CycleHeader, Session
from ._journal import Journal
from ._projection import failure_cause

if TYPE_CHECKING:  # pragma: no cover
    from observer.kis import KisRestClient, RestResult

__all__ = ["MAX_SCALP_SYMBOLS", "ScalpCollector", "scalp_cycle_id"]

MAX_SCALP_SYMBOLS: Final = 20  # 41 registrations per app key; trades + orderbook = 2 each
_BATCH: Final = 30
_SECOND: Final = dt.timedelta(seconds=1)
#: wall seconds without another late second that end a held run (a stall's late ticks come
#: at once; the next on-time strike, at most a market second away, usually ends it first)
_LATE_RUN_GAP_S: Final = 0.5


def scalp_cycle_id(second: dt.datetime, *, length: dt.timedelta) -> str:
    kst = second.astimezone(KST)
    start = kst - dt.timedelta(
        seconds=(kst.hour * 3600 + kst.minute * 60 + kst.second) % int(length.total_seconds())
    )
    return f"scalp-{start:%Y%m%d-%H%M%S}"


class _Cycle:
    __slots__ = ("closing", "header", "idle", "minute", "pending")

    def __init__(self, header: CycleHeader, minute: str) -> None:
        self.header = header
        self.minute = minute  # the minute's id (``scalp_cycle_id``): which strikes it takes
        self.pending = 0
        self.closing = False
        self.idle = anyio.Event()


class ScalpCollector:
    """Strikes scalp seconds for a fixed set of symbols (see the module doc)."""

    def __init__(
        self,
        *,
        client: KisRestClient,
        journal: Journal,
        clock: Clock,
        symbols: Sequence[str],
        environment: Environment,
        status: RunStatus,
        stale_after: dt.timedelta = dt.timedelta(seconds=5),
        fallback_timeout_s: float = 2.0,
        cycle_length: dt.timedelta = dt.timedelta(minutes=1),
        multi_price: bool = True,
        session: Session | None = None,
        pipeline_config: PipelineConfig | None = None,
    ) -> None:
        if len(symbols) > MAX_SCALP_SYMBOLS:
            raise ConfigError(
                f"{len(symbols)} scalp symbols need {2 * len(symbols)} WebSocket registrations "
                f"(trades + orderbook); one app key allows 41, so at most {MAX_SCALP_SYMBOLS}"
            )
        self._client = client
        self._journal = journal
        self._clock = clock
        self.symbols = tuple(symbols)
        self._environment = environment
        self._status = status
        self._stale_after = stale_after
        self._fallback_timeout_s = fallback_timeout_s
        self._length = cycle_length
        self._multi_price = multi_price
        self._session = session  # journaled with every cycle start
        self._stages = None if pipeline_config is None else config_mapping(pipeline_config)
        self._cycle: _Cycle | None = None
        self._in_flight: set[tuple[str, str]] = set()  # (cycle id, symbol) asked over REST
        self._late: list[dt.datetime] = []  # a run of consecutive late seconds, to be booked
        self._late_day: dt.date | None = None
        self._late_booked: anyio.Event | None = None  # set when the run above is booked
        self.socket_up = False  # set by the socket task

    @property
    def cycle_length(self) -> dt.timedelta:
        """How long one scalp cycle lasts (a minute): its id is the second it starts at."""
        return self._length

    # ------------------------------------------------------------------ cycles

    def _header(self, cycle_id: str, day: dt.date) -> CycleHeader:
        return CycleHeader(
            Mode.SCALP,
            Source.KIS_WS,
            self._environment,
            day,
            cycle_id,
            self._session,
            self._stages,
        )

    async def _cycle_for(self, second: dt.datetime, day: dt.date, tg: TaskGroup) -> _Cycle:
        minute = scalp_cycle_id(second, length=self._length)
        current = self._cycle
        if current is not None and current.minute == minute:
            return current
        if current is not None:
            self._retire(current, tg)
            cycle_id = minute
        else:  # the run's first: named for its first second (see the module doc)
            cycle_id = f"scalp-{second.astimezone(KST):%Y%m%d-%H%M%S}"
        header = self._header(cycle_id, day)
        await self._journal.append(header.started(self._clock.now(), scheduled=second))
        self._cycle = _Cycle(header, minute)
        return self._cycle

    def _retire(self, cycle: _Cycle, tg: TaskGroup) -> None:
        cycle.closing = True
        if cycle.pending == 0:
            cycle.idle.set()
        tg.start_soon(self._end_when_idle, cycle)

    async def _end_when_idle(self, cycle: _Cycle) -> None:
        await cycle.idle.wait()
        await self._journal.append(cycle.header.ended(self._clock.now()))

    async def finish(self) -> None:
        """End the current cycle (after its fallbacks): the session is over."""
        await self._book_late()
        cycle, self._cycle = self._cycle, None
        if cycle is not None:
            cycle.closing = True
            if cycle.pending == 0:
                cycle.idle.set()
            await self._end_when_idle(cycle)

    # ------------------------------------------------------------------ strikes

    async def strike(self, tick: Tick, day: dt.date, tg: TaskGroup) -> None:
        """Journal the strike of ``tick``'s second; start its REST fallback in ``tg``."""
        second = tick.scheduled
        if tick.missed:
            await self._hold_late(second, day, tg)
            return
        await self._book_late()  # a run of late seconds ends at the first strike on time
        cycle = await self._cycle_for(second, day, tg)
        cycle_id = cycle.header.cycle_id
        ask: tuple[str, ...] = ()

        def struck() -> RawEvent:
            # decided under the journal's lock: no answer can land between the decision and
            # the strike. One request in flight per (cycle, symbol): its answer serves every
            # strike waiting for it (see the projection), so a slow answer never fans out.
            nonlocal ask
            if self.socket_up:
                stale = self._journal.projector.stale_symbols(
                    self.symbols, as_of=second, stale_after=self._stale_after
                )
            else:
                stale = self.symbols
            ask = tuple(s for s in stale if (cycle_id, s) not in self._in_flight)
            self._in_flight.update((cycle_id, s) for s in ask)
            self._status.rest_fallbacks += len(stale)
            return cycle.header.struck(
                self._clock.now(), second=second, symbols=self.symbols, fallback=stale
            )

        await self._journal.append(struck)
        if ask:
            cycle.pending += 1
            tg.start_soon(self._fallback, cycle, ask)

    async def _hold_late(self, second: dt.datetime, day: dt.date, tg: TaskGroup) -> None:
        """Add a late second to the run being held (booking the run first if it does not
        continue it); the first second of a run starts its guard in ``tg``."""
        if self._late and (day != self._late_day or second - self._late[-1] != _SECOND):
            await self._book_late()
        self._late.append(second)
        self._late_day = day
        if self._late_booked is None:
            self._late_booked = anyio.Event()
            tg.start_soon(self._book_late_when_over, self._late_booked)

    async def _book_late_when_over(self, booked: anyio.Event) -> None:
        """Book the held run once ``_LATE_RUN_GAP_S`` pass without another late second, or
        when cut (shutdown): held seconds are never dropped. Ends as soon as it is booked."""
        try:
            held = -1
            while not booked.is_set() and len(self._late) != held:
                held = len(self._late)
                with anyio.move_on_after(_LATE_RUN_GAP_S):
                    await booked.wait()
        finally:
            with anyio.CancelScope(shield=True):
                if not booked.is_set():
                    await self._book_late()

    async def _book_late(self) -> None:
        """Book the held run of late seconds as one missed cycle (nothing when none is held)."""
        seconds, day, booked = self._late, self._late_day, self._late_booked
        self._late, self._late_day, self._late_booked = [], None, None
        if booked is not None:
            booked.set()
        if seconds and day is not None:
            await self.book_missed(seconds, day, "the scalp ticks fired after their grace time")

    async def book_missed(self, seconds: Sequence[dt.datetime], day: dt.date, detail: str) -> None:
        """Book scalp seconds that were not struck as one cycle failed ``missed``."""
        if not seconds:
            return
        first = seconds[0].astimezone(KST)
        header = self._header(f"scalp-missed-{first:%Y%m%d-%H%M%S}", day)
        expected = [s for _ in seconds for s in self.symbols]
        journal, now = self._journal, self._clock.now
        await journal.append(header.started(now(), scheduled=seconds[0], symbols=expected))
        await journal.append(
            header.failed(now(), cause=FailureCause.MISSED, symbols=expected, detail=detail)
        )
        await journal.append(header.ended(now()))

    async def _fetch(
        self, symbols: tuple[str, ...], errors: dict[tuple[str, ...], Exception]
    ) -> RestResult:
        def seen(exc: Exception) -> None:
            errors[symbols] = exc  # the last error of the batch's attempts so far

        if self._multi_price:
            return await self._client.inquire_multi_price(symbols, on_error=seen)
        return await self._client.inquire_price(symbols[0], on_error=seen)

    async def _fallback(self, cycle: _Cycle, stale: tuple[str, ...]) -> None:
        header, journal, clock = cycle.header, self._journal, self._clock
        size = _BATCH if self._multi_price else 1
        batches = [stale[i : i + size] for i in range(0, len(stale), size)]
        done: set[tuple[str, ...]] = set()
        errors: dict[tuple[str, ...], Exception] = {}  # unanswered: its last attempt's error

        def release(symbols: Sequence[str]) -> None:
            self._in_flight.difference_update((header.cycle_id, s) for s in symbols)

        async def one(batch: tuple[str, ...]) -> None:
            try:
                result = await self._fetch(batch, errors)
            except ObserverError as exc:
                done.add(batch)
                await journal.append(
                    header.failed(
                        clock.now(),
                        cause=failure_cause(exc),
                        symbols=batch,
                        detail=f"REST fallback: {type(exc).__name__}: {exc}",
                    ),
                    then=lambda: release(batch),
                )
                return
            done.add(batch)
            raw = result.to_raw_event(
                mode=Mode.SCALP, trading_day=header.trading_day, cycle_id=header.cycle_id
            )
            await journal.append(
                msgspec.structs.replace(raw, receive_time=clock.now()),
                then=lambda: release(batch),
            )

        cause, detail = FailureCause.TIMEOUT, "REST fallback did not answer in time"
        try:
            with anyio.move_on_after(self._fallback_timeout_s) as scope:
                async with anyio.create_task_group() as tg:
                    for batch in batches:
                        tg.start_soon(one, batch)
            if scope.cancelled_caught and not self._client.auth.has_usable_token:
                # no request could be sent: for want of a token (a revoked one whose
                # replacement KIS throttles), not a slow answer (as the swing collector books)
                cause, detail = FailureCause.AUTH, "REST fallback: no access token in time"
        except anyio.get_cancelled_exc_class():
            cause, detail = FailureCause.CANCELLED, "cut by shutdown"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                failed: dict[FailureCause, tuple[list[str], str]] = {}
                for batch in batches:
                    if batch in done:
                        continue
                    last = errors.get(batch) if cause is not FailureCause.CANCELLED else None
                    if last is None:
                        failed.setdefault(cause, ([], detail))[0].extend(batch)
                    else:  # being retried: booked by what its last attempt met
                        why = f"{detail}; last error {type(last).__name__}: {last}"
                        failed.setdefault(failure_cause(last), ([], why))[0].extend(batch)
                for failed_cause, (left, why) in failed.items():
                    await journal.append(
                        header.failed(clock.now(), cause=failed_cause, symbols=left, detail=why),
                        then=functools.partial(release, left),
                    )
                cycle.pending -= 1
                if cycle.closing and cycle.pending == 0:
                    cycle.idle.set()
