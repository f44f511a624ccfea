"""Tickers: turn a ``SchedulePlan`` into ``Tick``s on a bounded stream, on time.

Two drivers, one contract (every tick of the plan is sent exactly once, in order, either on
time or marked ``missed``; the stream is closed after the ``CLOSE`` tick):

- ``run_apscheduler_ticker``: APScheduler 3.x ``AsyncIOScheduler`` on the running asyncio
  loop, for the real clock (``observer run``). Interval triggers for swing (anchored on the
  open) and scalp (every second), date triggers for login and close. Ticks already due at
  start are sent at once (missed when past their grace), and APScheduler is never left to
  skip a run time silently.
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
import collections
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


async def run_apscheduler_ticker(
    plan: SchedulePlan,
    clock: Clock,
    send: MemoryObjectSendStream[Tick],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Send the ticks of ``plan`` from an APScheduler ``AsyncIOScheduler`` (real clock only).

    Ticks already due when the ticker starts are sent at once, in plan order, marked missed
    when they are past their grace. The rest are APScheduler jobs whose first run time is set
    explicitly: an interval trigger left to compute it would silently skip a first run time
    that passed while the scheduler was starting. The jobs have no misfire grace of their
    own, so APScheduler runs every run time exactly once; the ``EVENT_JOB_SUBMITTED``
    listener hands the run times over and ``fire`` decides from them what was missed (one
    rule, ``grace_for``, for both tickers).

    The jobs only hand a tick to the bounded stream (``send_nowait``); the work happens in
    the consumer's task group. A full stream means the consumer stalled for longer than the
    buffer: that is raised as ``CollectionError``, never dropped silently.
    """
    from apscheduler.events import (  # type: ignore[import-untyped]
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_SUBMITTED,
    )
    from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
    from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
    from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

    from .._errors import CollectionError

    if clock.speed != 1.0:
        raise CollectionError(
            "APScheduler runs on wall time; use run_clock_ticker for a simulated clock"
        )
    done = anyio.Event()
    overflow: list[Tick] = []
    unaccounted: list[TickKind] = []
    # Job ids sort like the kinds, so jobs due at the same instant run in plan order.
    job_ids = {kind: f"{kind.value}-{kind.name.lower()}" for kind in TickKind}
    kinds = {job_id: kind for kind, job_id in job_ids.items()}
    run_times: dict[TickKind, collections.deque[dt.datetime]] = {
        kind: collections.deque() for kind in TickKind
    }

    def emit(tick: Tick) -> None:
        try:
            send.send_nowait(tick)
        except anyio.WouldBlock:
            overflow.append(tick)
            done.set()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            done.set()

    def on_time(kind: TickKind, scheduled: dt.datetime, *, final: bool = False) -> None:
        late = clock.now() - scheduled > grace_for(kind, plan)
        emit(Tick(kind=kind, scheduled=scheduled, final=final, missed=late))

    async def fire(kind: TickKind) -> None:
        if not run_times[kind]:  # APScheduler ran a job it never reported submitting
            unaccounted.append(kind)
            done.set()
            return
        scheduled = run_times[kind].popleft().astimezone(dt.UTC)
        if kind is not TickKind.CLOSE:
            on_time(kind, scheduled)
            return
        if plan.swing and plan.end > plan.trading_start:  # the final swing cycle, then close
            on_time(TickKind.SWING, plan.end, final=True)
        emit(Tick(kind=TickKind.CLOSE, scheduled=plan.end))
        done.set()

    def on_submitted(event: Any) -> None:
        kind = kinds[event.job_id]
        if event.code == EVENT_JOB_SUBMITTED:
            run_times[kind].extend(event.scheduled_run_times)
        else:  # too many instances queued: APScheduler will not run these, so book them
            for scheduled in event.scheduled_run_times:
                emit(Tick(kind=kind, scheduled=scheduled.astimezone(dt.UTC), missed=True))

    async with send:
        task_status.started()
        # Catch up, in plan order, on what is due already (a start mid-session, a slow start).
        sent: dict[TickKind, dt.datetime] = {}
        for tick in plan.ticks():
            now = clock.now()
            if tick.scheduled > now:
                break
            if tick.kind is TickKind.CLOSE:
                await send.send(tick)
                return
            late = now - tick.scheduled > grace_for(tick.kind, plan)
            await send.send(msgspec.structs.replace(tick, missed=late))
            sent[tick.kind] = tick.scheduled
        scheduler = AsyncIOScheduler(timezone=dt.UTC, event_loop=asyncio.get_running_loop())
        scheduler.add_listener(on_submitted, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
        before_end = plan.end - dt.timedelta(microseconds=1)

        def add(kind: TickKind, trigger: Any, **extra: Any) -> None:
            # no misfire grace of APScheduler's own: `fire` applies grace_for to each run
            scheduler.add_job(
                fire,
                trigger,
                args=[kind],
                id=job_ids[kind],
                misfire_grace_time=None,
                coalesce=False,
                max_instances=1000,
                **extra,
            )

        if TickKind.LOGIN not in sent:
            add(TickKind.LOGIN, DateTrigger(plan.login_at))
        grids = [
            (TickKind.SWING, plan.swing, plan.swing_interval, plan.swing_times()),
            (TickKind.SCALP, plan.scalp, _SECOND, plan.scalp_times()),
        ]
        for kind, wanted, step, times in grids:
            after = sent.get(kind)
            first = next((t for t in times if after is None or t > after), None)
            if wanted and first is not None:
                every = step.total_seconds()
                trigger = IntervalTrigger(seconds=every, start_date=first, end_date=before_end)
                add(kind, trigger, next_run_time=first)
        add(TickKind.CLOSE, DateTrigger(plan.end))
        scheduler.start()
        try:
            await done.wait()
        finally:
            scheduler.shutdown(wait=False)
        if unaccounted:
            raise CollectionError(
                f"APScheduler ran a {unaccounted[0].name.lower()} job without reporting its "
                "run time; the ticker cannot say which tick it was"
            )
        if overflow:
            raise CollectionError(
                f"the tick stream stayed full: {len(overflow)} tick(s) from "
                f"{overflow[0].scheduled.isoformat()} could not be handed over"
            )
