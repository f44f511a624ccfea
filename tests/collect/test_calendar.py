"""The KRX calendar: sessions from exchange_calendars (XKRX), late opens, phases."""

from __future__ import annotations

import datetime as dt

import pytest

from observer.schedule import KrxCalendar
from pipeline import KST, SessionPhase


@pytest.fixture(scope="module")
def calendar() -> KrxCalendar:
    return KrxCalendar(late_opens=[dt.date(2025, 11, 13)], extra_holidays=[dt.date(2025, 6, 4)])


def kst(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=KST)


def test_new_years_day_has_no_session(calendar: KrxCalendar) -> None:
    """1 January is a KRX holiday."""
    assert None is calendar.session(dt.date(2025, 1, 1))


def test_chuseok_has_no_session(calendar: KrxCalendar) -> None:
    """Chuseok 2025 (6 October) is a holiday from the library, not from our code."""
    assert None is calendar.session(dt.date(2025, 10, 6))


def test_saturday_has_no_session(calendar: KrxCalendar) -> None:
    """Weekends do not trade."""
    assert False is calendar.is_session(dt.date(2025, 11, 15))


def test_regular_day_opens_at_nine_and_closes_at_half_past_three(calendar: KrxCalendar) -> None:
    """An ordinary session runs 09:00-15:30 KST."""
    session = calendar.session(dt.date(2025, 11, 12))
    assert session is not None
    assert (kst("2025-11-12", "09:00"), kst("2025-11-12", "15:30"), False) == (
        session.open,
        session.close,
        session.late_open,
    )


def test_first_session_of_the_year_opens_at_ten(calendar: KrxCalendar) -> None:
    """The year's first session opens an hour late (the library's special offset)."""
    session = calendar.session(dt.date(2026, 1, 2))
    assert session is not None
    assert (kst("2026-01-02", "10:00"), kst("2026-01-02", "15:30"), True) == (
        session.open,
        session.close,
        session.late_open,
    )


def test_configured_csat_day_shifts_open_and_close_by_an_hour(calendar: KrxCalendar) -> None:
    """A configured late open (CSAT day) runs 10:00-16:30."""
    session = calendar.session(dt.date(2025, 11, 13))
    assert session is not None
    assert (kst("2025-11-13", "10:00"), kst("2025-11-13", "16:30"), True) == (
        session.open,
        session.close,
        session.late_open,
    )


def test_configured_extra_holiday_has_no_session(calendar: KrxCalendar) -> None:
    """An ad-hoc closure from the config closes an otherwise ordinary weekday."""
    assert None is calendar.session(dt.date(2025, 6, 4))


def test_the_2026_local_election_day_has_no_session() -> None:
    """3 June 2026 (nationwide local elections, a public holiday) does not trade, with no
    configured holiday: exchange_calendars 4.13.2 lacks it, the built-in list has it."""
    assert None is KrxCalendar().session(dt.date(2026, 6, 3))


def test_next_session_after_a_saturday_is_monday(calendar: KrxCalendar) -> None:
    """The next session on or after a Saturday is the following Monday."""
    assert dt.date(2025, 11, 17) == calendar.next_session(dt.date(2025, 11, 15)).day


def test_previous_session_before_a_sunday_is_friday(calendar: KrxCalendar) -> None:
    """The last session on or before a Sunday is the Friday before."""
    assert dt.date(2025, 11, 14) == calendar.previous_session(dt.date(2025, 11, 16)).day


@pytest.mark.parametrize(
    ("when", "day"),
    [
        (kst("2025-11-14", "04:27"), "2025-11-13"),
        (kst("2025-11-13", "09:30"), "2025-11-12"),
        (kst("2025-11-14", "09:00"), "2025-11-14"),
    ],
    ids=["before-the-open-the-one-before", "before-a-late-open", "from-the-open-that-day"],
)
def test_latest_opened_session_is_one_that_has_opened(
    calendar: KrxCalendar, when: dt.datetime, day: str
) -> None:
    """At night the latest opened session is the previous one, not today's yet to open."""
    assert dt.date.fromisoformat(day) == calendar.latest_opened_session(when).day


@pytest.mark.parametrize(
    ("hhmm", "phase"),
    [
        ("08:00", SessionPhase.CLOSED),
        ("08:45", SessionPhase.PRE_OPEN_AUCTION),
        ("09:00", SessionPhase.REGULAR),
        ("15:19", SessionPhase.REGULAR),
        ("15:25", SessionPhase.CLOSING_AUCTION),
        ("15:35", SessionPhase.CLOSED),
        ("15:45", SessionPhase.POST_CLOSE),
        ("17:00", SessionPhase.AFTER_HOURS),
        ("18:00", SessionPhase.CLOSED),
    ],
)
def test_phase_of_an_ordinary_day(calendar: KrxCalendar, hhmm: str, phase: SessionPhase) -> None:
    """Phases follow reference §8 on an ordinary day."""
    assert phase == calendar.phase_at(kst("2025-11-12", hhmm))


@pytest.mark.parametrize(
    ("hhmm", "phase"),
    [
        ("09:15", SessionPhase.CLOSED),
        ("09:45", SessionPhase.PRE_OPEN_AUCTION),
        ("09:59", SessionPhase.PRE_OPEN_AUCTION),
        ("10:00", SessionPhase.REGULAR),
        ("16:25", SessionPhase.CLOSING_AUCTION),
    ],
)
def test_phases_shift_with_a_late_day(
    calendar: KrxCalendar, hhmm: str, phase: SessionPhase
) -> None:
    """On a CSAT day the auctions move with the open and close."""
    assert phase == calendar.phase_at(kst("2025-11-13", hhmm))


def test_phase_on_a_holiday_is_closed(calendar: KrxCalendar) -> None:
    """Mid-morning on a holiday is closed."""
    assert SessionPhase.CLOSED == calendar.phase_at(kst("2025-10-06", "10:00"))


def test_naive_instant_is_refused(calendar: KrxCalendar) -> None:
    """A naive datetime is an error, not a guess at its timezone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.phase_at(dt.datetime(2025, 11, 12, 10, 0))


def test_naive_instant_for_the_latest_opened_session_is_refused(calendar: KrxCalendar) -> None:
    """latest_opened_session refuses a naive datetime with a ValueError, not a TypeError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.latest_opened_session(dt.datetime(2025, 11, 12, 10, 0))
