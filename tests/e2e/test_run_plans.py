"""What ``observer run`` plans: a live run from the moment it starts, a simulated slice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from archive import ArchiveWriter
from observer._cli_run import _live_plans, _slice_plan
from observer._clock import SimulatedClock
from observer.collect import RunSettings
from observer.schedule import KrxCalendar, TradingSession
from pipeline import KST, CycleStarted, Environment, Mode, Source

DAY = dt.date(2025, 11, 12)  # an ordinary Wednesday session, 09:00-15:30 KST


@pytest.fixture(scope="module")
def calendar() -> KrxCalendar:
    return KrxCalendar()


def _journal_to(root: Path, at: dt.datetime) -> None:
    """An archive whose journal of ``DAY`` ends at ``at`` (one sealed raw event)."""
    event = CycleStarted(
        seq=1,
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.LIVE,
        trading_day=DAY,
        receive_time=at,
        cycle_id="scalp-20251112-150000",
        scheduled_time=at,
    )
    with ArchiveWriter(root) as writer:
        writer.append_many([event])


def _plans(
    calendar: KrxCalendar, root: Path, at: dt.datetime
) -> list[tuple[dt.date, dt.datetime, dt.datetime]]:
    settings = RunSettings(archive_root=str(root))
    plans = _live_plans(calendar, SimulatedClock(at, wall=lambda: 0.0), settings)
    return [(p.session.day, p.start.astimezone(KST), p.end.astimezone(KST)) for p in plans]


def test_a_run_after_the_close_resumes_a_day_whose_journal_stops_before_it(
    calendar: KrxCalendar, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started at 15:31 on a day whose journal stops at 15:27:53, the run plans that day
    from its close (a resume that books the rest of the day missed) and says so."""
    close = dt.datetime.combine(DAY, dt.time(15, 30), tzinfo=KST)
    _journal_to(tmp_path, dt.datetime.combine(DAY, dt.time(15, 27, 53), tzinfo=KST))
    plans = _plans(calendar, tmp_path, close + dt.timedelta(minutes=1))
    assert ([(DAY, close, close)], True) == (
        plans,
        "journal stops before the close" in capsys.readouterr().err,
    )


def test_a_run_after_the_close_of_a_finished_day_plans_nothing(
    calendar: KrxCalendar, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journal that reaches the close leaves nothing to resume: no plan, 'is over'."""
    close = dt.datetime.combine(DAY, dt.time(15, 30), tzinfo=KST)
    _journal_to(tmp_path, close + dt.timedelta(seconds=3))
    plans = _plans(calendar, tmp_path, close + dt.timedelta(minutes=1))
    assert ([], True) == (plans, "the 2025-11-12 session is over" in capsys.readouterr().err)


def test_a_run_started_in_the_evening_names_the_next_session_and_forever(
    calendar: KrxCalendar, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started at 20:00 (no journal), the run plans nothing and says how to wait for the
    next session, as it does on a day without one."""
    plans = _plans(calendar, tmp_path, dt.datetime.combine(DAY, dt.time(20), tzinfo=KST))
    message = (
        "observer run: the 2025-11-12 session is over; next session 2025-11-13 "
        "(use --forever to wait for it)\n"
    )
    assert ([], message) == (plans, capsys.readouterr().err)


SESSION = TradingSession(
    day=DAY,
    open=dt.datetime.combine(DAY, dt.time(9), tzinfo=KST),
    close=dt.datetime.combine(DAY, dt.time(15, 30), tzinfo=KST),
)


def test_a_slice_just_after_midnight_starts_its_market_at_midnight_not_the_day_before() -> None:
    """A slice from 00:00:05 cannot warm up 20 s before it (that is the previous day): its
    market starts at 00:00, and it logs in at its end, before it closes."""
    start = dt.datetime.combine(DAY, dt.time(0, 0, 5), tzinfo=KST)
    plan = _slice_plan(SESSION, start, dt.timedelta(seconds=1), RunSettings())
    at = [t.astimezone(KST).time() for t in (plan.start, plan.end, plan.login_at)]
    assert [dt.time(0), dt.time(0, 0, 6), dt.time(0, 0, 6)] == at
