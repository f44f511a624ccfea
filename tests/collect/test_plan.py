"""The session plan: which ticks fire when, anchored on the open."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observer.schedule import SchedulePlan, TickKind, TradingSession
from pipeline import KST

DAY = dt.date(2025, 11, 12)
SESSION = TradingSession(
    day=DAY,
    open=dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST),
    close=dt.datetime(2025, 11, 12, 15, 30, tzinfo=KST),
)


def kst(hhmmss: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(hhmmss), tzinfo=KST).astimezone(dt.UTC)


def test_swing_grid_is_anchored_on_the_open() -> None:
    """A plan starting at 09:01 fires its first swing at 09:02, on the open's 2-minute grid."""
    plan = SchedulePlan.for_session(SESSION, start=kst("09:01:00"), length=dt.timedelta(minutes=5))
    assert [kst("09:02:00"), kst("09:04:00")] == list(plan.swing_times())


def test_final_swing_cycle_fires_at_the_end() -> None:
    """The last swing tick is the final cycle at the end of the plan."""
    plan = SchedulePlan.for_session(SESSION, start=kst("09:00:00"), length=dt.timedelta(minutes=3))
    swings = [t for t in plan.ticks() if t.kind is TickKind.SWING]
    assert [(kst("09:00:00"), False), (kst("09:02:00"), False), (kst("09:03:00"), True)] == [
        (t.scheduled, t.final) for t in swings
    ]


def test_scalp_fires_every_second_of_the_window() -> None:
    """A 10-second slice strikes 10 scalp seconds."""
    plan = SchedulePlan.for_session(SESSION, start=kst("10:00:00"), length=dt.timedelta(seconds=10))
    assert [kst(f"10:00:{s:02d}") for s in range(10)] == list(plan.scalp_times())


def test_scalp_does_not_fire_before_the_open() -> None:
    """Starting at the login time, the first scalp second is the open."""
    plan = SchedulePlan.for_session(SESSION, length=dt.timedelta(minutes=31))
    assert kst("09:00:00") == next(plan.scalp_times())


def test_login_fires_first_at_the_login_time() -> None:
    """A whole-session plan begins with the 08:30 login."""
    plan = SchedulePlan.for_session(SESSION)
    first = next(plan.ticks())
    assert (TickKind.LOGIN, kst("08:30:00")) == (first.kind, first.scheduled)


def test_close_is_the_last_tick_at_the_close() -> None:
    """A whole-session plan ends with CLOSE at 15:30, after the final swing."""
    plan = SchedulePlan.for_session(SESSION, start=kst("15:29:58"))
    tail = [(t.kind, t.scheduled, t.final) for t in plan.ticks()][-2:]
    assert [
        (TickKind.SWING, kst("15:30:00"), True),
        (TickKind.CLOSE, kst("15:30:00"), False),
    ] == tail


def test_ticks_at_one_instant_come_login_swing_scalp() -> None:
    """At the open, the swing tick precedes the scalp tick."""
    plan = SchedulePlan.for_session(SESSION, start=kst("09:00:00"), length=dt.timedelta(seconds=1))
    assert [TickKind.LOGIN, TickKind.SWING, TickKind.SCALP, TickKind.SWING, TickKind.CLOSE] == [
        t.kind for t in plan.ticks()
    ]


@pytest.mark.parametrize("seconds", [60, 119, 181, 600])
def test_swing_interval_outside_two_to_three_minutes_is_refused(seconds: int) -> None:
    """The swing interval is configurable only within 2-3 minutes."""
    with pytest.raises(ValueError, match="swing interval"):
        SchedulePlan.for_session(SESSION, swing_interval=dt.timedelta(seconds=seconds))


def test_missed_between_names_the_grid_points_of_the_gap() -> None:
    """A restart at 09:05 after the last event at 09:01:58 books 09:02 and 09:04 swings."""
    plan = SchedulePlan.for_session(SESSION, start=kst("09:05:00"), scalp=False)
    missed = list(plan.missed_between(kst("09:01:58"), kst("09:05:00")))
    assert [(TickKind.SWING, kst("09:02:00"), True), (TickKind.SWING, kst("09:04:00"), True)] == [
        (t.kind, t.scheduled, t.missed) for t in missed
    ]


def test_missed_between_counts_every_scalp_second() -> None:
    """A 10-second outage books 9 scalp seconds strictly between the two instants."""
    plan = SchedulePlan.for_session(SESSION, start=kst("10:00:10"), swing=False)
    missed = list(plan.missed_between(kst("10:00:00"), kst("10:00:10")))
    assert 9 == len(missed)


def test_a_slice_that_ends_before_the_login_time_logs_in_before_it_closes() -> None:
    """A slice from 08:29:38 to 08:29:59 logs in at its end, so LOGIN still precedes CLOSE
    (a CLOSE first ended the consumer while the ticker still had LOGIN to send)."""
    plan = SchedulePlan.for_session(SESSION, start=kst("08:29:38"), length=dt.timedelta(seconds=21))
    assert [(TickKind.LOGIN, kst("08:29:59")), (TickKind.CLOSE, kst("08:29:59"))] == [
        (t.kind, t.scheduled) for t in plan.ticks()
    ]


@given(
    start=st.integers(min_value=-9 * 3600, max_value=7 * 3600),
    length=st.integers(min_value=0, max_value=900),
    interval=st.integers(min_value=120, max_value=180),
)
def test_ticks_are_in_order_and_end_with_close(start: int, length: int, interval: int) -> None:
    """Whatever the window, ticks are sorted by (time, kind) and the last one is CLOSE."""
    plan = SchedulePlan.for_session(
        SESSION,
        start=kst("08:30:00") + dt.timedelta(seconds=start),
        length=dt.timedelta(seconds=length),
        swing_interval=dt.timedelta(seconds=interval),
    )
    ticks = list(plan.ticks())
    keys = [(t.scheduled, t.kind) for t in ticks]
    assert (sorted(keys), TickKind.CLOSE) == (keys, ticks[-1].kind)


def test_collection_waits_for_collect_from_after_an_early_login() -> None:
    """A slice that logs in at 10:29:50 to collect from 10:30 strikes its first second at 10:30."""
    plan = SchedulePlan.for_session(
        SESSION,
        start=kst("10:29:50"),
        length=dt.timedelta(seconds=20),
        collect_from=kst("10:30:00"),
    )
    assert (kst("10:29:50"), kst("10:30:00")) == (plan.login_at, next(plan.scalp_times()))


def test_a_naive_start_is_refused_with_a_value_error() -> None:
    """for_session refuses a naive start as the plan itself does, not with a TypeError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        SchedulePlan.for_session(
            SESSION, start=dt.datetime(2025, 11, 12, 9, 0), length=dt.timedelta(minutes=1)
        )
