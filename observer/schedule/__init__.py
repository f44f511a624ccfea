"""Scheduling: the KRX calendar, the session plan and the tickers that fire it on time."""

from ._calendar import CalendarRangeError as CalendarRangeError
from ._calendar import KrxCalendar as KrxCalendar
from ._calendar import TradingSession as TradingSession
from ._plan import DEFAULT_LOGIN_TIME as DEFAULT_LOGIN_TIME
from ._plan import DEFAULT_SWING_INTERVAL as DEFAULT_SWING_INTERVAL
from ._plan import MAX_SWING_INTERVAL as MAX_SWING_INTERVAL
from ._plan import MIN_SWING_INTERVAL as MIN_SWING_INTERVAL
from ._plan import SchedulePlan as SchedulePlan
from ._plan import Tick as Tick
from ._plan import TickKind as TickKind
from ._ticker import grace_for as grace_for
from ._ticker import run_apscheduler_ticker as run_apscheduler_ticker
from ._ticker import run_clock_ticker as run_clock_ticker

__all__ = [
    "DEFAULT_LOGIN_TIME",
    "DEFAULT_SWING_INTERVAL",
    "MAX_SWING_INTERVAL",
    "MIN_SWING_INTERVAL",
    "CalendarRangeError",
    "KrxCalendar",
    "SchedulePlan",
    "Tick",
    "TickKind",
    "TradingSession",
    "grace_for",
    "run_apscheduler_ticker",
    "run_clock_ticker",
]
