"""What the scheduler fires and when: the ticks of one session, in order, on market time.

A ``SchedulePlan`` is pure data (no clock, no I/O). Its ticks:

- ``LOGIN``: once, at the login time (08:30 KST by default) or at the start when later (at
  the end when that is earlier);
- ``SWING``: on the grid ``open + k * interval`` inside ``[start, end)``, then one final swing
  cycle at ``end`` (the close, or the end of a shorter slice);
- ``SCALP``: every whole second inside ``[max(start, open), end)``;
- ``CLOSE``: once at ``end``, after the final swing tick: seal and stop.

Ticks at the same instant come in the order LOGIN, SWING, SCALP, CLOSE. The swing grid is
anchored on the open, not on the start, so a restarted run lands on the same grid and a
missed grid point can be named and booked.
"""

from __future__ import annotations

import datetime as dt
import enum
import heapq
from collections.abc import Iterator

import msgspec

from pipeline import KST

from ._calendar import TradingSession

__all__ = [
    "DEFAULT_LOGIN_TIME",
    "DEFAULT_SWING_INTERVAL",
    "MAX_SWING_INTERVAL",
    "MIN_SWING_INTERVAL",
    "SchedulePlan",
    "Tick",
    "TickKind",
]

MIN_SWING_INTERVAL = dt.timedelta(minutes=2)
MAX_SWING_INTERVAL = dt.timedelta(minutes=3)
DEFAULT_SWING_INTERVAL = dt.timedelta(minutes=2)
DEFAULT_LOGIN_TIME = dt.time(8, 30)
_SECOND = dt.timedelta(seconds=1)


class TickKind(enum.IntEnum):
    """What a tick asks for; the value is the order of ticks at the same instant."""

    LOGIN = 0
    SWING = 1
    SCALP = 2
    CLOSE = 3


class Tick(msgspec.Struct, frozen=True, kw_only=True):
    """One firing of the schedule, on market time (aware UTC)."""

    kind: TickKind
    scheduled: dt.datetime
    final: bool = False  # the swing cycle at the close (or at the end of a slice)
    missed: bool = False  # the ticker could not fire it in time: book it, do not run it


def _ceil_to_grid(when: dt.datetime, anchor: dt.datetime, step: dt.timedelta) -> dt.datetime:
    if when <= anchor:
        return anchor
    steps = -((anchor - when) // step)  # ceil division on timedeltas
    return anchor + steps * step


class SchedulePlan(msgspec.Struct, frozen=True, kw_only=True):
    """The ticks of one session between ``start`` and ``end`` (both aware)."""

    session: TradingSession
    start: dt.datetime
    end: dt.datetime
    swing_interval: dt.timedelta = DEFAULT_SWING_INTERVAL
    login_time: dt.time = DEFAULT_LOGIN_TIME  # KST wall time of the login tick
    swing: bool = True
    scalp: bool = True
    #: collection starts no earlier than this (a simulated slice logs in before its start)
    collect_from: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("SchedulePlan needs timezone-aware start and end")
        if not MIN_SWING_INTERVAL <= self.swing_interval <= MAX_SWING_INTERVAL:
            raise ValueError(
                f"swing interval must be between {MIN_SWING_INTERVAL.total_seconds():g} s and "
                f"{MAX_SWING_INTERVAL.total_seconds():g} s, got "
                f"{self.swing_interval.total_seconds():g} s"
            )

    @classmethod
    def for_session(
        cls,
        session: TradingSession,
        *,
        start: dt.datetime | None = None,
        length: dt.timedelta | None = None,
        swing_interval: dt.timedelta = DEFAULT_SWING_INTERVAL,
        login_time: dt.time = DEFAULT_LOGIN_TIME,
        swing: bool = True,
        scalp: bool = True,
        collect_from: dt.datetime | None = None,
    ) -> SchedulePlan:
        """The plan from ``start`` (default: the login time) to the close or ``start + length``."""
        if any(t is not None and t.tzinfo is None for t in (start, collect_from)):
            raise ValueError("SchedulePlan needs timezone-aware start and collect_from")
        login_at = dt.datetime.combine(session.day, login_time, tzinfo=KST)
        begin = start if start is not None else min(login_at, session.open)
        end = session.close if length is None else min(session.close, begin + length)
        return cls(
            session=session,
            start=begin.astimezone(dt.UTC),
            end=max(begin, end).astimezone(dt.UTC),
            swing_interval=swing_interval,
            login_time=login_time,
            swing=swing,
            scalp=scalp,
            collect_from=None if collect_from is None else collect_from.astimezone(dt.UTC),
        )

    @property
    def login_at(self) -> dt.datetime:
        """The login time, or the start when later; never after the end (a slice that ends
        before the login time logs in at its end, still before its ``CLOSE``)."""
        at = dt.datetime.combine(self.session.day, self.login_time, tzinfo=KST)
        return min(max(at.astimezone(dt.UTC), self.start), self.end)

    @property
    def trading_start(self) -> dt.datetime:
        """When collection starts: the open, or the start (or ``collect_from``) when later."""
        begin = max(self.start, self.session.open.astimezone(dt.UTC))
        return begin if self.collect_from is None else max(begin, self.collect_from)

    def swing_times(self) -> Iterator[dt.datetime]:
        """The swing grid points inside ``[trading_start, end)``."""
        anchor = self.session.open.astimezone(dt.UTC)
        at = _ceil_to_grid(self.trading_start, anchor, self.swing_interval)
        while at < self.end:
            yield at
            at += self.swing_interval

    def scalp_times(self) -> Iterator[dt.datetime]:
        """Every whole second inside ``[trading_start, end)``."""
        at = _ceil_to_grid(self.trading_start, self.session.open.astimezone(dt.UTC), _SECOND)
        while at < self.end:
            yield at
            at += _SECOND

    def ticks(self) -> Iterator[Tick]:
        """Every tick of the plan, in firing order."""
        streams: list[Iterator[tuple[dt.datetime, int, Tick]]] = [
            iter(
                [
                    (
                        self.login_at,
                        TickKind.LOGIN,
                        Tick(kind=TickKind.LOGIN, scheduled=self.login_at),
                    )
                ]
            )
        ]
        if self.swing and self.end > self.trading_start:
            streams.append(
                (t, TickKind.SWING, Tick(kind=TickKind.SWING, scheduled=t))
                for t in self.swing_times()
            )
            streams.append(
                iter(
                    [
                        (
                            self.end,
                            TickKind.SWING,
                            Tick(kind=TickKind.SWING, scheduled=self.end, final=True),
                        )
                    ]
                )
            )
        if self.scalp:
            streams.append(
                (t, TickKind.SCALP, Tick(kind=TickKind.SCALP, scheduled=t))
                for t in self.scalp_times()
            )
        streams.append(
            iter([(self.end, TickKind.CLOSE, Tick(kind=TickKind.CLOSE, scheduled=self.end))])
        )
        for _at, _kind, tick in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            yield tick

    def missed_between(self, after: dt.datetime, before: dt.datetime) -> Iterator[Tick]:
        """Swing and scalp grid points strictly after ``after`` and before ``before``, missed.

        Used on a restart: the grid points the process was down for are booked, not replayed.
        The window is not clipped to this plan's start, only to the session's close.
        """
        if before <= after:
            return
        gap = msgspec.structs.replace(
            self, start=after, end=min(before, self.session.close), collect_from=None
        )
        merged = heapq.merge(
            ((t, TickKind.SWING) for t in (gap.swing_times() if self.swing else ())),
            ((t, TickKind.SCALP) for t in (gap.scalp_times() if self.scalp else ())),
        )
        for at, kind in merged:
            if at > after:
                yield Tick(kind=kind, scheduled=at, missed=True)
