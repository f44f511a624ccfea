"""The main job: lock the archive, recover, resume the day, run the session's ticks, seal.

``run_collection`` is what ``observer run`` (and ``--simulate``) calls. In order:

1. Take the archive root's lock (``archive.RootLock``): a second run on the same root is
   refused with a clear message naming the holder's pid.
2. Open the ``ArchiveWriter`` (it repairs torn tails) and book what recovery cut
   (``torn_tail``) in the ledger.
3. Per trading day: a fresh ``Projector``; the day's raw journal, if any, is replayed into it
   (``restore``) so state and numbering continue exactly. A journal that runs more than
   ``JOURNAL_LEAD_LIMIT`` past the clock's now is refused before anything is appended (the
   same simulated slice run twice into one root, or a clock set back): the day's events
   would step back in time and repeat cycle ids. Cycles the previous process left
   open are ended with what they lacked booked ``missed``; the swing and scalp grid points it
   was down for are booked ``missed`` (never replayed).
4. The session's ticks (APScheduler on the real clock, our clock-driven loop on simulated
   time): LOGIN fetches the token and starts the socket, SWING runs a swing cycle, SCALP
   strikes a scalp second, CLOSE lets the final cycles finish and ends the day.
5. At the end, or on cancellation (SIGINT/SIGTERM): running cycles book what they cut
   (``cancelled``), every open cycle is ended, the archive stream drains, the writer seals
   every segment and the lock is released.

Tasks: the archive sink and the status server live in the outer task group; the ticker, the
socket and the cycles in an inner one that cancellation cuts first, so the sink is still
there to take the bookings the cut produces.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import logging
import re
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio
import msgspec
from anyio.abc import TaskGroup, TaskStatus

from pipeline import (
    KST,
    CycleEnded,
    CycleStarted,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    Pipeline,
    PipelineConfig,
    PipelineError,
    RawEvent,
    ScalpStruck,
    decode_config_toml,
    loss_count,
)

from .._clock import Clock
from .._errors import CollectionError, ConfigError, ProtocolError, TransportError
from ..schedule import (
    SchedulePlan,
    Tick,
    TickKind,
    TradingSession,
    run_apscheduler_ticker,
    run_clock_ticker,
)
from ..status import MeteredSendStream, RunState, RunStatus, serve_status
from ._budget import SharedBudget
from ._events import CycleHeader
from ._journal import ArchiveRecord, Journal, run_archive_sink
from ._projection import Projector
from ._scalp import ScalpCollector, scalp_cycle_id
from ._swing import SwingCollector, swing_symbols

if TYPE_CHECKING:  # pragma: no cover
    from anyio.streams.memory import MemoryObjectReceiveStream

    from archive import ArchiveWriter, Partition
    from observer.kis import KisConfig

__all__ = [
    "RunResult",
    "RunSettings",
    "check_symbols",
    "read_journal",
    "read_pipeline_config",
    "run_collection",
    "unfinished_day",
]

_log = logging.getLogger("observer.run")

#: How far the day's journal may run past the clock when a run resumes it (a clock stepped
#: back a little by NTP is fine; the 60 s of ``observer verify --max-skew``'s default).
JOURNAL_LEAD_LIMIT: Final = dt.timedelta(seconds=60)


class RunSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What ``observer run`` is told besides credentials (config ``[run]`` table and flags)."""

    archive_root: str = "./observer-archive"
    swing_interval_s: float = 120.0  # 120-180
    login_time: dt.time = dt.time(8, 30)  # KST
    scalp_symbols: tuple[str, ...] = ()
    stale_after_s: float = 5.0  # market seconds without a frame before a symbol falls back
    fallback_timeout_s: float = 2.0  # wall seconds a REST fallback may take
    swing_workers: int = 4
    status_host: str = "127.0.0.1"
    status_port: int | None = 8787  # None: no status endpoint
    stream_capacity: int = 4096  # records between the journal and the archive writer
    forever: bool = False  # run session after session instead of ending with the day
    #: days that open an hour late beyond what exchange_calendars knows (CSAT days after 2020)
    late_opens: tuple[dt.date, ...] = ()
    #: ad-hoc KRX closures announced after the installed exchange_calendars release
    extra_holidays: tuple[dt.date, ...] = ()
    #: a pipeline config TOML for the stages (journaled on every cycle start); None: built-in
    pipeline_config: str | None = None


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a run did, for the closing line and the exit code."""

    archive_root: str
    trading_days: tuple[dt.date, ...]
    cycles: dict[str, int]
    expected: int
    lost: int
    loss_rate: float
    snapshots: int
    raw_events: int
    recovered_loss: int
    cancelled: bool


def _last_ledger_seq(root: Path | str, day: dt.date) -> int:
    from archive import open_archive

    return max((e.seq for e in open_archive(root).ledger(dates=[day])), default=0)


def unfinished_day(root: Path | str, session: TradingSession) -> bool:
    """Whether the archive at ``root`` holds a journal of ``session``'s day that stops before
    its close: its run crashed or was stopped, and the rest of the day is not booked yet.

    Cheap and read-only (no lock, no replay): the raw segments' manifests, where a segment
    a crash left open (no manifest until recovery seals it) counts as stopping early. A plan
    from the close (``SchedulePlan.for_session(session, start=session.close)``) resumes such
    a day without collecting: open cycles ended, the rest of the grid booked ``missed``.
    """
    from archive import Family, open_archive

    if not Path(root).is_dir():
        return False
    reader = open_archive(root)
    parts = reader.partitions(Family.RAW, dates=[session.day])
    segments = sum(len(reader.segments(p)) for p in parts)
    manifests = reader.manifests(Family.RAW, dates=[session.day])
    if len(manifests) < segments:
        return True
    ends = [m.last_receive_time for m in manifests if m.last_receive_time is not None]
    return bool(ends) and max(ends) < session.close


def read_journal(root: Path | str, day: dt.date) -> Iterator[RawEvent]:
    """The raw journal of ``day`` in journal order: every raw partition merged by ``seq``."""
    from archive import Family, open_archive

    reader = open_archive(root)
    parts = reader.partitions(Family.RAW, dates=[day])
    streams = [reader.raw(dates=[day], mode=p.mode, source=p.source) for p in parts]
    yield from heapq.merge(*streams, key=lambda e: e.seq)


async def _close_open_cycles(
    journal: Journal, clock: Clock, cause: FailureCause, detail: str
) -> None:
    """End every cycle the projection still has open, booking what it lacked with ``cause``."""
    projector = journal.projector
    pipeline = projector.pipeline
    for cycle_id in pipeline.open_cycles:
        ledger = pipeline.ledger(cycle_id)
        header = CycleHeader(
            ledger.mode, ledger.source, ledger.environment, ledger.trading_day, cycle_id
        )
        outstanding = projector.outstanding(cycle_id)
        if outstanding:
            await journal.append(
                header.failed(clock.now(), cause=cause, symbols=outstanding, detail=detail)
            )
        await journal.append(header.ended(clock.now()))


class _Session:
    """One trading day's collectors, driven by its plan's ticks."""

    def __init__(
        self,
        *,
        settings: RunSettings,
        plan: SchedulePlan,
        journal: Journal,
        clients: _Clients,
        clock: Clock,
        status: RunStatus,
        environment: Environment,
        universe: Sequence[str],
        kis: KisConfig | None,
        use_apscheduler: bool,
        pipeline_config: PipelineConfig,
    ) -> None:
        self.plan = plan
        self.kis = kis
        self.environment = environment
        self.day = plan.session.day
        self.journal = journal
        self.client = clients.swing
        self.clock = clock
        self.status = status
        self.use_apscheduler = use_apscheduler
        #: the resumed journal's last event: grid points up to it are the journal's already
        self.resumed_to: dt.datetime | None = None
        multi = environment is not Environment.PAPER
        interval = dt.timedelta(seconds=settings.swing_interval_s)
        session = (plan.session.open, plan.session.close)
        self.swing = (
            SwingCollector(
                client=clients.swing,
                journal=journal,
                clock=clock,
                universe=universe,
                environment=environment,
                interval=interval,
                multi_price=multi,
                workers=settings.swing_workers,
                session=session,
                pipeline_config=pipeline_config,
            )
            if plan.swing
            else None
        )
        self.scalp = (
            ScalpCollector(
                client=clients.scalp,
                journal=journal,
                clock=clock,
                symbols=settings.scalp_symbols,
                environment=environment,
                status=status,
                stale_after=dt.timedelta(seconds=settings.stale_after_s),
                fallback_timeout_s=settings.fallback_timeout_s,
                multi_price=multi,
                session=session,
                pipeline_config=pipeline_config,
            )
            if plan.scalp and settings.scalp_symbols
            else None
        )

    async def book_downtime(self, last_seen: dt.datetime | None, covered: _Covered) -> None:
        """Book the grid points between the journal's end and this run's collection start
        as missed, and, before it, those the journal lacks (``covered``). Its end is its last
        event, or, for scalp seconds, its last second when its run stopped them cleanly."""
        if last_seen is None:
            return
        self.resumed_to = last_seen
        scalp_end = covered.scalp_end(last_seen)
        await self._book_journal_gaps(last_seen, scalp_end, covered)
        # Up to where this run's collection starts, never later: the ticker fires the plan
        # from there whatever the clock says (a tick past its grace comes marked missed), so
        # a replay that outlasts the start must leave those grid points to it, or they are
        # booked twice (a swing cycle id repeated, scalp seconds counted twice).
        until = min(self.plan.trading_start, self.plan.end)
        for tick in self.plan.missed_between(last_seen, until):
            if tick.kind is TickKind.SWING and self.swing is not None:
                await self.swing.run_cycle(tick, self.day)
        close = self.plan.session.close.astimezone(dt.UTC)
        if until >= close and last_seen < close and self.swing is not None:
            # down to the close (a resume after it): its final swing cycle was missed too
            final = Tick(kind=TickKind.SWING, scheduled=close, final=True, missed=True)
            await self.swing.run_cycle(final, self.day)
        missed = self.plan.missed_between(scalp_end, until)
        seconds = [t.scheduled for t in missed if t.kind is TickKind.SCALP]
        if seconds and self.scalp is not None:
            await self.scalp.book_missed(seconds, self.day, "the process was down")

    async def _book_journal_gaps(
        self, last_seen: dt.datetime, scalp_end: dt.datetime, covered: _Covered
    ) -> None:
        """Grid points up to the journal's end that it has no cycle for: events a crash lost
        before they reached the disk (frames of two raw partitions land one after the other),
        or late scalp seconds held for booking when the process died. Booked missed, so no
        expected observation is in no bucket. Only what the journal shows was planned: swing
        points between its first and last cycle start, scalp seconds from its first strike
        to ``scalp_end`` inside the scalp cycles it started (an earlier run may have
        collected from later; a slice ended cleanly before the journal's last event left
        the seconds after its end to the down time)."""
        swing: list[Tick] = []
        seconds: list[dt.datetime] = []
        if covered.swing and self.swing is not None:
            last = max(covered.swing) + dt.timedelta(microseconds=1)
            grid = [t for t in self.plan.missed_between(min(covered.swing), last)]
            points = [t for t in grid if t.kind is TickKind.SWING]
            if covered.swing <= {t.scheduled for t in points} | {min(covered.swing)}:
                swing = [t for t in points if t.scheduled not in covered.swing]
            else:  # another interval than this run's: its grid is not ours to judge
                _log.info("journal_gaps_unchecked", extra={"mode": "swing"})
        if covered.scalp and self.scalp is not None:
            end = scalp_end + dt.timedelta(microseconds=1)
            grid = list(self.plan.missed_between(min(covered.scalp), end))
            length = self.scalp.cycle_length
            minutes = {scalp_cycle_id(at, length=length) for at in covered.scalp_cycles}
            seconds = [
                t.scheduled
                for t in grid
                if t.kind is TickKind.SCALP
                and t.scheduled not in covered.scalp
                and scalp_cycle_id(t.scheduled, length=length) in minutes
            ]
        if not swing and not seconds:
            return
        _log.warning(
            "journal_gaps",
            extra={
                "day": self.day.isoformat(),
                "swing_cycles": len(swing),
                "scalp_seconds": len(seconds),
                "detail": "grid points the resumed journal lacks, booked missed",
            },
        )
        for tick in swing:
            await self.swing.run_cycle(tick, self.day)  # type: ignore[union-attr]
        detail = "absent from the journal: lost before they reached the disk"
        run: list[dt.datetime] = []
        for second in seconds:  # one missed cycle per run of consecutive seconds
            if run and second - run[-1] != dt.timedelta(seconds=1):
                await self.scalp.book_missed(run, self.day, detail)  # type: ignore[union-attr]
                run = []
            run.append(second)
        await self.scalp.book_missed(run, self.day, detail)  # type: ignore[union-attr]

    async def run(self) -> None:
        send, receive = anyio.create_memory_object_stream[Tick](256)
        async with anyio.create_task_group() as infra:
            ticker = run_apscheduler_ticker if self.use_apscheduler else run_clock_ticker
            await infra.start(ticker, self.plan, self.clock, send)
            async with anyio.create_task_group() as work, receive:
                async for tick in receive:
                    if (
                        self.resumed_to is not None
                        and tick.kind in (TickKind.SWING, TickKind.SCALP)
                        and tick.scheduled <= self.resumed_to
                    ):
                        # A clock behind the resumed journal (by less than the refusal's
                        # limit): this grid point's cycle is in the journal, collected or
                        # booked. Striking it again would repeat its cycle id.
                        continue
                    await self._dispatch(tick, infra, work)
                    if tick.kind is TickKind.CLOSE:
                        break
            if self.scalp is not None:
                await self.scalp.finish()
            infra.cancel_scope.cancel()

    async def _socket(self) -> None:
        from ._socket import run_socket

        assert self.scalp is not None and self.kis is not None  # checked by the caller
        await run_socket(
            kis=self.kis,
            auth=self.client.auth,
            clock=self.clock,
            scalp=self.scalp,
            journal=self.journal,
            status=self.status,
            trading_day=self.day,
            environment=self.environment,
            market_open=self.plan.session.is_open,
        )

    async def _dispatch(self, tick: Tick, infra: TaskGroup, work: TaskGroup) -> None:
        if tick.kind is TickKind.LOGIN:
            self.status.state = RunState.LOGGING_IN
            try:
                await self.client.auth.access_token()
            except (TransportError, ProtocolError) as exc:
                # Not fatal: every request asks for the token again, and what fails meanwhile
                # is booked with its cause. Rejected credentials (AuthError) are fatal.
                _log.warning("login_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            if self.scalp is not None and self.kis is not None:
                # not awaited: until the socket is up every scalp symbol falls back to REST
                infra.start_soon(self._socket)
            self.status.state = RunState.COLLECTING
        elif tick.kind is TickKind.SWING:
            if self.swing is not None:
                work.start_soon(self.swing.run_cycle, tick, self.day)
        elif tick.kind is TickKind.SCALP:
            if self.scalp is not None:
                await self.scalp.strike(tick, self.day, work)
        else:
            self.status.state = RunState.CLOSING


class _DayFigures(msgspec.Struct, frozen=True):
    """The running totals of a ``RunStatus`` at one moment (a day's are the difference)."""

    cycles: dict[str, int]
    expected: int
    archived: int
    deduplicated: int
    lost: int
    failed: dict[str, int]
    snapshots: int

    @classmethod
    def of(cls, status: RunStatus) -> _DayFigures:
        return cls(
            cycles=dict(status.cycles),
            expected=status.total_expected,
            archived=sum(status.archived.values()),
            deduplicated=sum(status.deduplicated.values()),
            lost=status.total_lost,
            failed=dict(status.failed),
            snapshots=status.snapshots,
        )

    def since(self, before: _DayFigures) -> dict[str, object]:
        """What was added after ``before`` (for a log line; loss as ``cycle_loss`` has it)."""

        def added(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
            return {k: v - then.get(k, 0) for k, v in sorted(now.items()) if v != then.get(k, 0)}

        return {
            "cycles": added(self.cycles, before.cycles),
            "expected": self.expected - before.expected,
            "archived": self.archived - before.archived,
            "deduplicated": self.deduplicated - before.deduplicated,
            "lost": self.lost - before.lost,
            "failed": added(self.failed, before.failed),
            "snapshots": self.snapshots - before.snapshots,
        }


def read_pipeline_config(path: str | Path | None) -> PipelineConfig:
    """The pipeline config TOML at ``path`` (what ``RunSettings.pipeline_config`` names, and
    ``observer rederive --config`` takes as a what-if); ``None`` is the built-in config. A
    file that cannot be read or decoded is a ``ConfigError`` naming it."""
    if path is None:
        return PipelineConfig()
    try:
        return decode_config_toml(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except PipelineError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def check_symbols(
    universe: Sequence[str], scalp_symbols: Sequence[str], config: PipelineConfig
) -> None:
    """Refuse symbols Validation would reject on every observation (``bad_symbol``): a typo
    or a code the configured ``validation.symbol_pattern`` does not admit is a config error
    before the run, not a loss booked every cycle of the day."""
    pattern = config.validation.symbol_pattern
    match = re.compile(pattern).fullmatch
    for what, symbols in (("scalp symbol", scalp_symbols), ("universe symbol", universe)):
        bad = [s for s in symbols if match(s) is None]
        if bad:
            listed = ", ".join(repr(s) for s in bad[:5]) + (", …" if len(bad) > 5 else "")
            which = (
                f"{what} {listed} does" if len(bad) == 1 else f"{len(bad)} {what}s ({listed}) do"
            )
            raise ConfigError(
                f"{which} not match "
                f"Validation's symbol pattern {pattern!r}: every observation would be rejected "
                "as bad_symbol. Correct the code, or widen validation.symbol_pattern in a "
                "pipeline config (--pipeline-config)."
            )


async def run_collection(
    settings: RunSettings,
    *,
    kis: KisConfig,
    clock: Clock,
    plans: Callable[[], Iterator[SchedulePlan]],
    universe: Sequence[str],
    status: RunStatus,
    pipeline_config: PipelineConfig | None = None,
    use_socket: bool = True,
    use_apscheduler: bool = False,
    handle_signals: bool = False,
    status_port_ready: Callable[[int], None] | None = None,
    rate_clock: Clock | None = None,
) -> RunResult:
    """Run the main job (see the module doc); returns when the last session is sealed.

    ``rate_clock``: the clock the app key's request budget counts on. ``None`` is the wall
    clock, as a broker counts; a simulator that counts its limit in market seconds
    (``SimConfig.rate_in_market_time``) needs its market clock here.

    The swing cycles quote ``swing_symbols(universe, settings.scalp_symbols)``: the scalp
    symbols first (their swing quote brings the day's price band their socket trades are
    held to), also those the universe lacks (logged once, ``swing_adds_scalp_symbols``).
    """
    from archive import (
        ArchiveError,
        ArchiveFormatError,
        ArchiveLockedError,
        ArchiveWriter,
        RootLock,
    )

    check_symbols(universe, settings.scalp_symbols, pipeline_config or PipelineConfig())
    root = Path(settings.archive_root)
    environment = kis.environment
    lock = RootLock(root)
    try:
        lock.acquire()
    except ArchiveLockedError as exc:
        raise CollectionError(
            f"another observer run is writing to archive root {root} ({exc}); refusing to start"
        ) from None
    except ArchiveError as exc:  # a file in its place, a folder that cannot be made
        raise CollectionError(f"cannot use archive root {root}: {exc}") from None
    swing = swing_symbols(universe, settings.scalp_symbols)
    listed = set(universe)
    added = [s for s in swing if s not in listed]
    if added:
        _log.info(
            "swing_adds_scalp_symbols",
            extra={
                "symbols": added,
                "swing_symbols": len(swing),
                "detail": "scalp symbols the universe lacks: every swing cycle quotes them "
                "first, so their day's price band is known",
            },
        )
    days: list[dt.date] = []
    cancelled = False
    recovered_loss = 0
    try:
        try:
            writer = ArchiveWriter(root)
        except ArchiveFormatError as exc:
            raise CollectionError(
                f"archive root {root}: recovery stopped at damage it will not cut: {exc}. "
                f"`observer verify {root}` lists it. To go on, move the damaged file out of "
                "the archive root (what it holds is then missing from the archive)"
            ) from None
        except ArchiveError as exc:
            raise CollectionError(f"cannot open archive root {root}: {exc}") from None
        # Torn snapshot tails recovery cut: booked as loss unless the day's resume restores
        # them from the journal (_run_day), and those of days this run does not resume at
        # the end (``finally`` below).
        torn = _TornTails(writer.recovery.ledger_entries(clock.now(), environment=environment))
        failed = True
        try:
            send, receive = anyio.create_memory_object_stream[ArchiveRecord](
                settings.stream_capacity
            )
            sink = MeteredSendStream(send, status.stream("archive"))
            archive_sink = _ArchiveSink(writer, receive)
            async with _archive_failures(root), anyio.create_task_group() as outer:
                outer.start_soon(archive_sink.run)
                status_scope = anyio.CancelScope()
                if settings.status_port is not None:

                    async def status_server(*, task_status: TaskStatus[int]) -> None:
                        with status_scope:
                            await serve_status(
                                status,
                                host=settings.status_host,
                                port=settings.status_port or 0,
                                task_status=task_status,
                            )

                    port = await outer.start(status_server)
                    if status_port_ready is not None:
                        status_port_ready(port)
                signal_scope = anyio.CancelScope()
                try:
                    with anyio.CancelScope() as collect_scope:
                        if handle_signals:
                            outer.start_soon(_cancel_on_signal, collect_scope, signal_scope)
                        async with _Clients(kis, clock, rate_clock) as clients:
                            for plan in plans():
                                days.append(plan.session.day)
                                await _run_day(
                                    settings,
                                    plan,
                                    sink,
                                    writer.last_seq,
                                    torn,
                                    clients,
                                    clock,
                                    status,
                                    environment,
                                    swing,
                                    pipeline_config,
                                    kis if use_socket else None,
                                    use_apscheduler,
                                    archive_sink,
                                )
                    cancelled = collect_scope.cancelled_caught
                finally:
                    with anyio.CancelScope(shield=True):
                        await sink.aclose()
                        status_scope.cancel()
                        signal_scope.cancel()
            failed = False
        finally:
            try:
                try:
                    for entry in writer.book_recovery(clock.now(), entries=torn.pending):
                        torn.booked(entry, status)
                finally:
                    writer.close()
            except ArchiveError as exc:
                if not failed:
                    raise CollectionError(f"archive root {root}: {exc}") from None
                # the run is failing already: say this too, without hiding why it failed
                _log.error("archive_close_failed", extra={"error": str(exc)})
        recovered_loss = torn.loss
    finally:
        lock.release()
    status.state = RunState.DONE
    return RunResult(
        archive_root=str(root),
        trading_days=tuple(days),
        cycles=dict(status.cycles),
        expected=status.total_expected,
        lost=status.total_lost,
        loss_rate=status.loss_rate,
        snapshots=status.snapshots,
        raw_events=status.raw_events,
        recovered_loss=recovered_loss,
        cancelled=cancelled,
    )


class _ArchiveSink:
    """The task that appends the journal's records to the archive, and why it died if it did."""

    def __init__(
        self, writer: ArchiveWriter, receive: MemoryObjectReceiveStream[ArchiveRecord]
    ) -> None:
        self._writer = writer
        self._receive = receive
        #: the archive's error once the sink died of it (its stream then refuses every send)
        self.error: str | None = None

    async def run(self) -> None:
        try:
            await run_archive_sink(self._writer, self._receive)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"  # our errors carry no secret
            raise


# What a send to the journal's stream raises once the archive sink died of an archive error:
# a consequence of that error, not news.
_SINK_GONE: Final = (anyio.BrokenResourceError, anyio.ClosedResourceError)


@contextlib.asynccontextmanager
async def _archive_failures(root: Path) -> AsyncIterator[None]:
    """The archive failing under the run (disk full, root deleted): a CollectionError that
    names it, not a traceback of the writer's (nor of the sends the dead sink refused)."""
    from archive import ArchiveError

    try:
        yield
    except ArchiveError as exc:
        raise CollectionError(f"archive root {root}: {exc}") from None
    except BaseExceptionGroup as group:
        archive, rest = group.split(ArchiveError)
        if archive is None or (rest is not None and rest.split(_SINK_GONE)[1] is not None):
            raise  # not the archive's failure alone: keep all of it
        leaf: BaseException = archive
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        raise CollectionError(f"archive root {root}: {leaf}") from None


class _Covered:
    """The grid points a resumed journal holds: swing cycle starts, and scalp seconds struck
    in an open cycle or booked missed."""

    def __init__(self) -> None:
        self.swing: set[dt.datetime] = set()
        self.scalp: set[dt.datetime] = set()
        #: when the scalp cycles it started begin (a run's first mid-minute: its first second)
        self.scalp_cycles: set[dt.datetime] = set()
        self._open_scalp: set[str] = set()  # scalp cycles started and not (yet) ended

    def scalp_end(self, last_seen: dt.datetime) -> dt.datetime:
        """Where the journal's scalp seconds end: its last second when the run that wrote it
        last ended every scalp cycle (a clean stop: a cycle's end follows its strikes in one
        raw partition, so none of them can be missing); else, after a crash, its last event
        (strikes past the last one on disk may have been lost)."""
        if self.scalp and not self._open_scalp:
            return max(self.scalp)
        return last_seen

    def see(self, event: RawEvent, projector: Projector) -> None:
        """Note ``event`` (before the projector folds it: a strike counts only in a cycle
        that is open, else its expectations were never booked)."""
        if isinstance(event, CycleEnded):
            self._open_scalp.discard(event.cycle_id)
        elif isinstance(event, ScalpStruck):
            if projector.is_open(event.cycle_id):
                self.scalp.add(event.second)
        elif isinstance(event, CycleStarted):
            if event.mode is Mode.SWING:
                self.swing.add(event.scheduled_time)
            elif not event.cycle_id.startswith("scalp-missed-"):
                self.scalp_cycles.add(event.scheduled_time)
                self._open_scalp.add(event.cycle_id)
            elif event.symbols:
                # (booked as every symbol once per second, for consecutive seconds)
                per = len(set(event.symbols))
                for k in range(len(event.symbols) // per):
                    self.scalp.add(event.scheduled_time + dt.timedelta(seconds=k))


class _TornTails:
    """Recovery's torn snapshot tails, waiting to be booked (or found restored)."""

    def __init__(self, entries: Sequence[LedgerEntry]) -> None:
        self.pending = list(entries)
        self.loss = 0

    def take(self, day: dt.date) -> list[LedgerEntry]:
        """The day's entries, no longer pending."""
        mine = [e for e in self.pending if e.trading_day == day]
        self.pending = [e for e in self.pending if e.trading_day != day]
        return mine

    def booked(self, entry: LedgerEntry, status: RunStatus) -> None:
        status.book(entry)
        self.loss += loss_count(entry)


class _Clients:
    """The app key's two REST clients: swing on the low lane of one shared request budget,
    scalp fallbacks on the high lane; one token between them.

    Both run on the collector's clock (token lifetimes are market time in the simulator);
    the budget runs on ``rate_clock``: the wall clock unless told (rate limits guard the
    broker's server).
    """

    def __init__(self, kis: KisConfig, clock: Clock, rate_clock: Clock | None = None) -> None:
        from observer.kis import KisRestClient

        self.budget = SharedBudget(kis.rest_rate_per_s, clock=rate_clock)
        self.swing = KisRestClient(kis, clock=clock, limiter=self.budget.low)  # type: ignore[arg-type]
        self.scalp = KisRestClient(
            kis,
            clock=clock,
            limiter=self.budget.high,  # type: ignore[arg-type]
            auth=self.swing.auth,
        )

    async def __aenter__(self) -> _Clients:
        await self.swing.__aenter__()
        await self.scalp.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await self.scalp.aclose()
            await self.swing.aclose()


async def _cancel_on_signal(scope: anyio.CancelScope, own: anyio.CancelScope) -> None:
    """SIGINT/SIGTERM cancel the collectors' scope: they book their cuts, then all seals."""
    with own, anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            _log.warning("signal_received", extra={"signal": signal.Signals(signum).name})
            scope.cancel()
            return


async def _run_day(
    settings: RunSettings,
    plan: SchedulePlan,
    sink: MeteredSendStream[ArchiveRecord],
    archived_last_seq: Callable[[Partition], int | None],
    torn: _TornTails,
    clients: _Clients,
    clock: Clock,
    status: RunStatus,
    environment: Environment,
    universe: Sequence[str],
    pipeline_config: PipelineConfig | None,
    kis: KisConfig | None,
    use_apscheduler: bool,
    archive_sink: _ArchiveSink,
) -> None:
    day = plan.session.day
    status.trading_day = day
    status.session_open = plan.session.open
    status.session_close = plan.session.close
    status.login_at = plan.login_at
    status.universe_size = len(universe) if plan.swing else 0
    status.scalp_symbols = settings.scalp_symbols if plan.scalp else ()
    # The journal's cycle starts name the config they ran with, so replaying the day under
    # another config (a resume with a changed --pipeline-config) still rebuilds the state
    # the archive was derived from; this run's cycles then journal, and switch to, its own.
    config = pipeline_config or PipelineConfig()
    projector = Projector(Pipeline(config), environment=environment)
    from archive import Family, Partition

    last_seq, last_seen = 0, None
    lost: list[ArchiveRecord] = []  # projected, yet past their partition's archived end
    covered = _Covered()
    ends: dict[tuple[type, str, str], int] = {}  # archived last seq by (type, mode, source)

    def archived_end(record: ArchiveRecord) -> int:
        key = (type(record), record.mode, record.source)
        end = ends.get(key)
        if end is None:
            end = ends[key] = archived_last_seq(Partition.of(record)) or 0
        return end

    for event in read_journal(settings.archive_root, day):
        if event.environment != environment:
            raise CollectionError(
                f"the archive's journal of {day} in {settings.archive_root} was written by a "
                f"{event.environment} run, this run is {environment}: one day's archive holds "
                "one environment. Collect into another archive root (--archive-root)."
            )
        covered.see(event, projector)
        try:
            projected = projector.feed(event)
        except PipelineError as exc:
            raise CollectionError(
                f"cannot resume {day} from its journal in {settings.archive_root}: raw event "
                f"{event.seq}: {exc}"
            ) from None
        last_seq, last_seen = event.seq, event.receive_time
        # The writer cuts derived frames after the raw ones (archive._writer), so a crash
        # leaves on disk a prefix of what the journal projects: what lies past a partition's
        # last seq was projected before the crash and lost in a buffer (or a torn tail).
        lost += (r for r in projected if r.seq > archived_end(r))
    now = clock.now()
    if last_seen is not None and last_seen - now > JOURNAL_LEAD_LIMIT:
        raise CollectionError(
            f"the archive's journal of {day} in {settings.archive_root} already runs to "
            f"{last_seen.astimezone(KST):%H:%M:%S} KST, past this run's clock "
            f"({now.astimezone(KST):%H:%M:%S} KST): resuming would step the day back in time. "
            "Collect into another archive root (--archive-root), or, for a simulated slice, "
            "start it after the journal's end (--start)."
        )
    restored: dict[Partition, int] = {}  # records restored, by partition
    sent: dict[Partition, int] = {}  # the last seq sent to the archive, by partition
    for record in lost:  # archived now, in the order the journal projected them
        partition = Partition.of(record)
        await sink.send(record)
        restored[partition] = restored.get(partition, 0) + 1
        sent[partition] = record.seq
    if restored:
        _log.warning(
            "resume_restored",
            extra={
                "day": day.isoformat(),
                "records": sum(restored.values()),
                "detail": "re-derived from the journal: a crash lost them before the archive",
            },
        )
    # A torn snapshot tail of this day was restored with the rest (its raw events reached
    # the journal before its frame was cut): no loss to book. Else book it.
    for entry in torn.take(day):
        snapshots = Partition(Family.SNAPSHOTS, day, entry.mode, entry.source)
        if restored.get(snapshots):
            _log.info(
                "torn_tail_restored",
                extra={"day": day.isoformat(), "cycle_id": entry.cycle_id},
            )
            continue
        ledger = Partition.of(entry)
        seq = max(archived_last_seq(ledger) or 0, sent.get(ledger, 0)) + 1
        entry = msgspec.structs.replace(entry, seq=seq)
        await sink.send(entry)
        sent[ledger] = seq
        torn.booked(entry, status)
    # A ledger entry carries its CycleEnded's raw seq; entries recovery booked for torn tails
    # took the next seqs of their partitions (some maybe still on their way to the disk).
    # Numbering continues above all.
    ledger_seq = max(
        _last_ledger_seq(settings.archive_root, day),
        *(seq for p, seq in sent.items() if p.family is Family.LEDGER),
        0,
    )
    journal = Journal(projector, sink, status, next_seq=max(last_seq, ledger_seq) + 1)
    session = _Session(
        settings=settings,
        plan=plan,
        journal=journal,
        clients=clients,
        clock=clock,
        status=status,
        environment=environment,
        universe=universe,
        kis=kis,
        use_apscheduler=use_apscheduler,
        pipeline_config=config,
    )
    _log.info(
        "session_planned",
        extra={
            "day": day.isoformat(),
            "open": plan.session.open.isoformat(),
            "close": plan.session.close.isoformat(),
            "login_at": plan.login_at.astimezone(KST).isoformat(),
            "start": plan.trading_start.astimezone(KST).isoformat(),
            "end": plan.end.astimezone(KST).isoformat(),
            "swing_symbols": status.universe_size,
            "scalp_symbols": len(status.scalp_symbols),
            "resumed_raw_events": last_seq,
            "restored_records": sum(restored.values()),
        },
    )
    before = _DayFigures.of(status)
    ended = False
    failure: str | None = None
    try:
        if last_seq:
            _log.info("day_resumed", extra={"day": day.isoformat(), "raw_events": last_seq})
            await _close_open_cycles(journal, clock, FailureCause.MISSED, "the process was down")
            await session.book_downtime(last_seen, covered)
        if plan.trading_start < plan.session.close:
            status.state = RunState.WAITING
            await session.run()
        else:  # a plan from the close: only the resume above (``unfinished_day``)
            _log.info("resumed_after_close", extra={"day": day.isoformat()})
        ended = True
    except BaseException as exc:
        leaf: BaseException = exc
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        if archive_sink.error is not None:  # the session was cut because the archive failed
            failure = archive_sink.error
        elif not isinstance(leaf, anyio.get_cancelled_exc_class()):
            failure = f"{type(leaf).__name__}: {leaf}"  # our errors carry no secret
        if failure is not None:
            _log.error("session_failed", extra={"day": day.isoformat(), "error": failure})
        raise
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await _close_open_cycles(journal, clock, FailureCause.CANCELLED, "cut by shutdown")
            except _SINK_GONE:
                # The archive sink died: nothing reaches the disk any more, so these ends
                # cannot either (the resume closes the cycles the journal left open).
                failure = failure or archive_sink.error or "the archive stopped taking records"
        _log.info(
            "session_ended",
            extra={
                "day": day.isoformat(),
                "cut": not ended and failure is None,  # by a signal (a failure says so)
                **({"error": failure} if failure is not None else {}),
                **_DayFigures.of(status).since(before),
            },
        )
