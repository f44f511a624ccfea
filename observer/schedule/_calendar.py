"""The KRX trading calendar: which days trade, when they open and close, and the phases.

Days, opens and closes come from ``exchange_calendars``' XKRX calendar (holidays, the
first-session-of-the-year 10:00 open, CSAT-day delays). Its gaps are closed by
configuration:

- its CSAT (수능) dates stop in 2020; later CSAT days (every schedule one hour late: open
  10:00, close 16:30) are passed as ``late_opens`` (``[run] late_opens`` in the config);
- ad-hoc closures announced after the library's release are passed as ``extra_holidays``.

The one exception is ``KNOWN_CLOSURES``: statutory closures fixed by law long in advance
that the newest release (4.13.2) still lacks, so that a default config does not collect a
day KRX is shut. Harmless once the library has them too.

The collectors journal each day's open and close on every ``CycleStarted``; the pipeline
shifts its session phases to match (``PipelineConfig.for_session``), so Guard and Enrichment
see a late day's hours, live and when re-derived.

Auction phases (shared/reference/kis-protocol.md §8) are placed relative to the day's open and
close, so a late day shifts them with it: opening call auction 30 min before the open,
continuous trading to 10 min before the close, closing call auction to the close,
closing-price trading 10-30 min after it, after-hours single price until 2 h 30 after it.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import msgspec

from pipeline import KST, SessionPhase

from .._errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import exchange_calendars  # type: ignore[import-untyped]

__all__ = ["CalendarRangeError", "KrxCalendar", "TradingSession"]

_PRE_OPEN = dt.timedelta(minutes=30)
_CLOSING_CALL = dt.timedelta(minutes=10)
_POST_CLOSE_START = dt.timedelta(minutes=10)
_POST_CLOSE_END = dt.timedelta(minutes=30)
_AFTER_HOURS_END = dt.timedelta(hours=2, minutes=30)
_LATE_SHIFT = dt.timedelta(hours=1)
_SEARCH_DAYS = 30  # no KRX closure run is longer than this (the longest holiday runs ~10 days)

#: KRX closures exchange_calendars 4.13.2 lacks (see the module doc)
KNOWN_CLOSURES: Final = frozenset(
    {
        # the 9th nationwide local elections (제9회 전국동시지방선거): election days are
        # public holidays, and KRX closes on them (as on 2022-06-01, which the library has)
        dt.date(2026, 6, 3),
    }
)


class TradingSession(msgspec.Struct, frozen=True, kw_only=True):
    """One KRX trading day: its regular session (open to close) and whether it opened late."""

    day: dt.date
    open: dt.datetime  # aware, KST
    close: dt.datetime  # aware, KST
    late_open: bool = False

    @property
    def pre_open(self) -> dt.datetime:
        """Start of the opening call auction."""
        return self.open - _PRE_OPEN

    @property
    def closing_auction(self) -> dt.datetime:
        """Start of the closing call auction."""
        return self.close - _CLOSING_CALL

    def is_open(self, when: dt.datetime) -> bool:
        """Whether ``when`` lies inside the regular session (open inclusive, close exclusive)."""
        return self.open <= when < self.close

    def phase_at(self, when: dt.datetime) -> SessionPhase:
        """The session phase at ``when`` (any timezone-aware instant)."""
        if when.tzinfo is None:
            raise ValueError("phase_at needs a timezone-aware instant")
        if when < self.pre_open or when >= self.close + _AFTER_HOURS_END:
            return SessionPhase.CLOSED
        if when < self.open:
            return SessionPhase.PRE_OPEN_AUCTION
        if when < self.closing_auction:
            return SessionPhase.REGULAR
        if when < self.close:
            return SessionPhase.CLOSING_AUCTION
        if self.close + _POST_CLOSE_START <= when < self.close + _POST_CLOSE_END:
            return SessionPhase.POST_CLOSE
        if when >= self.close + _POST_CLOSE_END:
            return SessionPhase.AFTER_HOURS
        return SessionPhase.CLOSED  # 15:30-15:40: between the closing call and post-close trading


@functools.cache
def _xkrx() -> exchange_calendars.ExchangeCalendar:
    import exchange_calendars

    # The library trips pandas' own deprecation warnings while building; they are not ours to
    # act on, and the test run turns warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return exchange_calendars.get_calendar("XKRX")


class CalendarRangeError(ConfigError, ValueError):
    """A day outside the range the installed ``exchange_calendars`` knows."""


class KrxCalendar:
    """KRX sessions from ``exchange_calendars`` (XKRX), plus configured late opens and closures."""

    def __init__(
        self,
        *,
        late_opens: Iterable[dt.date] = (),
        extra_holidays: Iterable[dt.date] = (),
    ) -> None:
        self._late_opens = frozenset(late_opens)
        self._extra_holidays = frozenset(extra_holidays) | KNOWN_CLOSURES
        self._calendar: Any = _xkrx()

    @property
    def first_day(self) -> dt.date:
        return self._to_date(self._calendar.first_session)

    @property
    def last_day(self) -> dt.date:
        return self._to_date(self._calendar.last_session)

    @staticmethod
    def _to_date(label: Any) -> dt.date:
        return dt.date(label.year, label.month, label.day)

    def _check_range(self, day: dt.date) -> None:
        if not self.first_day <= day <= self.last_day:
            raise CalendarRangeError(
                f"{day} is outside the KRX days the installed exchange_calendars knows "
                f"({self.first_day}..{self.last_day}, up to a year ahead)"
            )

    def session(self, day: dt.date) -> TradingSession | None:
        """The trading session on ``day`` (a KST date), or ``None`` when KRX is closed."""
        self._check_range(day)
        if day in self._extra_holidays:
            return None
        label = day.isoformat()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not self._calendar.is_session(label):
                return None
            opens = self._calendar.session_open(label).to_pydatetime().astimezone(KST)
            closes = self._calendar.session_close(label).to_pydatetime().astimezone(KST)
        late = opens.timetz().replace(tzinfo=None) > dt.time(9, 0)
        if day in self._late_opens and not late:
            opens, closes, late = opens + _LATE_SHIFT, closes + _LATE_SHIFT, True
        return TradingSession(day=day, open=opens, close=closes, late_open=late)

    def is_session(self, day: dt.date) -> bool:
        return self.session(day) is not None

    def session_at(self, when: dt.datetime) -> TradingSession | None:
        """The session on the KST date of ``when`` (whether or not it is open at that instant)."""
        if when.tzinfo is None:
            raise ValueError("session_at needs a timezone-aware instant")
        return self.session(when.astimezone(KST).date())

    def next_session(self, day: dt.date) -> TradingSession:
        """The first session on or after ``day``."""
        for offset in range(_SEARCH_DAYS):
            found = self.session(day + dt.timedelta(days=offset))
            if found is not None:
                return found
        raise ValueError(f"no KRX session within {_SEARCH_DAYS} days after {day}")

    def previous_session(self, day: dt.date) -> TradingSession:
        """The last session on or before ``day``."""
        for offset in range(_SEARCH_DAYS):
            found = self.session(day - dt.timedelta(days=offset))
            if found is not None:
                return found
        raise ValueError(f"no KRX session within {_SEARCH_DAYS} days before {day}")

    def latest_opened_session(self, when: dt.datetime) -> TradingSession:
        """The last session that has opened by ``when`` (before today's open: the one before)."""
        if when.tzinfo is None:
            raise ValueError("latest_opened_session needs a timezone-aware instant")
        found = self.previous_session(when.astimezone(KST).date())
        if found.open > when:
            found = self.previous_session(found.day - dt.timedelta(days=1))
        return found

    def phase_at(self, when: dt.datetime) -> SessionPhase:
        """The session phase at ``when``; ``CLOSED`` on a day without a session."""
        found = self.session_at(when)
        return SessionPhase.CLOSED if found is None else found.phase_at(when)
