"""Tickers: turn a ``SchedulePlan`` into ``Tick``s on a bounded stream, on time.

Two drivers, one contract (every tick of the plan is sent exactly once, in order, either on
time or marked ``missed``; the stream is closed after the ``CLOSE`` tick):

- ``run_apscheduler_ticker``: APScheduler 3.x ``AsyncIOScheduler`` on the running asyncio
  loop, for the real clock (``observer run``). Interval triggers for swing (anchored on the
  open) and scalp (every second), date triggers for login and close. A firing APScheduler
  reports as missed (``EVENT_JOB_MISSED``, past its grace time) is sent as a missed tick.
- ``run_clock_ticker``: our own loop over the plan that sleeps on an injected ``Clock``, for
  simulated market time (``observer run --simulate``). APScheduler only knows wall time, so a
  10x simulated market cannot run on it; rather than scale every interval, the simulated path
  sleeps on the simulated clock itself, which keeps one code path for any speed.

A tick that fires later than its grace (scalp: one second; swing: one interval) is sent with
``missed=True``: the collectors book it as ``CollectionFailed(cause=missed)`` rather than run
a cycle out of its time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from .._clock import Clock
from ._plan import SchedulePlan, Tick, TickKind

__all__ = ["grace_for", "run_apscheduler_ticker", "run_clock_ticker"]

_log = logging.getLogger("observer.schedule")
_SECOND = dt.timedelta(seconds=1)


_MIN_WALL_GRACE_S = 0.25


def grace_for(kind: TickKind, plan: SchedulePlan, speed: float = 1.0) -> dt.timedelta:
    """How late a tick may fire and still run (later than this, it is booked as missed).

    Scalp: one second of market time, but never less than a quarter of a wall second (at 10x
    a market second is 100 ms of wall time, shorter than a garbage-collection pause).
    Swing: one interval.
    """
    if kind is TickKind.SCALP:
        return max(_SECOND, dt.timedelta(seconds=_MIN_WALL_GRACE_S * speed))
    if kind is TickKind.SWING:
        return plan.swing_interval
    return dt.timedelta.max


async def run_clock_ticker(
    plan: SchedulePlan,
    clock: Clock,
    send: MemoryObjectSendStream[Tick],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Send every tick of ``plan`` when ``clock`` reaches it; close ``send`` at the end."""
    async with send:
        task_status.started()
        for tick in plan.ticks():
            await clock.sleep_until(tick.scheduled)
            if clock.now() - tick.scheduled > grace_for(tick.kind, plan, clock.speed):
                tick = msgspec.structs.replace(tick, missed=True)
            await send.send(tick)


_EARLY = dt.timedelta(milliseconds=5)


def _grid_time(now: dt.datetime, anchor: dt.datetime, step: dt.timedelta) -> dt.datetime:
    """The grid point ``anchor + k * step`` a job firing at ``now`` was scheduled for.

    APScheduler runs a job at or after its time (later than the grace, it reports a miss
    instead), so it is the last grid point at or before ``now`` (a few ms of slack for a
    timer that wakes early).
    """
    steps = (now + _EARLY - anchor) // step
    return anchor + max(0, steps) * step


async def run_apscheduler_ticker(
    plan: SchedulePlan,
    clock: Clock,
    send: MemoryObjectSendStream[Tick],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Send the ticks of ``plan`` from an APScheduler ``AsyncIOScheduler`` (real clock only).

    The jobs only hand a tick to the bounded stream (``send_nowait``); the work happens in
    the consumer's task group. A full stream means the consumer stalled for longer than the
    buffer: that is raised as ``CollectionError``, never dropped silently.
    """
    from apscheduler.events import EVENT_JOB_MISSED  # type: ignore[import-untyped]
    from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
    from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
    from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

    from .._errors import CollectionError

    if clock.speed != 1.0:
        raise CollectionError(
            "APScheduler runs on wall time; use run_clock_ticker for a simulated clock"
        )
    anchor = plan.session.open.astimezone(dt.UTC)
    done = anyio.Event()
    overflow: list[Tick] = []

    def emit(tick: Tick) -> None:
        try:
            send.send_nowait(tick)
        except anyio.WouldBlock:
            overflow.append(tick)
            done.set()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            done.set()

    async def fire(kind: TickKind) -> None:
        now = clock.now()
        if kind is TickKind.SCALP:
            emit(Tick(kind=kind, scheduled=_grid_time(now, anchor, _SECOND)))
        elif kind is TickKind.SWING:
            emit(Tick(kind=kind, scheduled=_grid_time(now, anchor, plan.swing_interval)))
        elif kind is TickKind.LOGIN:
            emit(Tick(kind=kind, scheduled=plan.login_at))
        else:  # the end: the final swing cycle, then close
            if plan.swing and plan.end > plan.trading_start:
                emit(Tick(kind=TickKind.SWING, scheduled=plan.end, final=True))
            emit(Tick(kind=TickKind.CLOSE, scheduled=plan.end))
            done.set()

    def on_missed(event: Any) -> None:
        # Only swing and scalp have a grace time; login and close run however late.
        kind = TickKind[str(getattr(event, "job_id", "")).upper()]
        scheduled: dt.datetime = event.scheduled_run_time
        emit(Tick(kind=kind, scheduled=scheduled.astimezone(dt.UTC), missed=True))

    scheduler = AsyncIOScheduler(timezone=dt.UTC, event_loop=asyncio.get_running_loop())
    scheduler.add_listener(on_missed, EVENT_JOB_MISSED)
    defaults: dict[str, Any] = {"coalesce": False, "max_instances": 1000}
    scheduler.add_job(
        fire,
        DateTrigger(plan.login_at),
        args=[TickKind.LOGIN],
        id="login",
        misfire_grace_time=None,
        **defaults,
    )
    first_swing = next(plan.swing_times(), None)
    if plan.swing and first_swing is not None:
        scheduler.add_job(
            fire,
            IntervalTrigger(
                seconds=plan.swing_interval.total_seconds(),
                start_date=first_swing,
                end_date=plan.end - dt.timedelta(microseconds=1),
            ),
            args=[TickKind.SWING],
            id="swing",
            misfire_grace_time=int(plan.swing_interval.total_seconds()),
            **defaults,
        )
    first_scalp = next(plan.scalp_times(), None)
    if plan.scalp and first_scalp is not None:
        scheduler.add_job(
            fire,
            IntervalTrigger(
                seconds=1, start_date=first_scalp, end_date=plan.end - dt.timedelta(microseconds=1)
            ),
            args=[TickKind.SCALP],
            id="scalp",
            misfire_grace_time=1,
            **defaults,
        )
    scheduler.add_job(
        fire,
        DateTrigger(plan.end),
        args=[TickKind.CLOSE],
        id="close",
        misfire_grace_time=None,
        **defaults,
    )
    async with send:
        scheduler.start()
        try:
            task_status.started()
            await done.wait()
        finally:
            scheduler.shutdown(wait=False)
        if overflow:
            raise CollectionError(
                f"the tick stream stayed full: {len(overflow)} tick(s) from "
                f"{overflow[0].scheduled.isoformat()} could not be handed over"
            )
