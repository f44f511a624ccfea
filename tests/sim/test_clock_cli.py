"""The simulated clock, the admin clock endpoint and ``observer simulate``."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from observer.cli import cli
from observer.sim import SimClock
from pipeline import KST
from tests.sim.helpers import running


class _Wall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_clock_runs_at_speed() -> None:
    """10 wall seconds at 20x are 200 market seconds."""
    wall = _Wall()
    clock = SimClock(dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST), 20.0, wall=wall)
    wall.t += 10
    assert dt.datetime(2026, 11, 24, 9, 3, 20, tzinfo=KST) == clock.now()


def test_clock_set_keeps_monotonic_going_forward() -> None:
    """Jumping the clock back in market time never moves monotonic() back."""
    wall = _Wall()
    clock = SimClock(dt.datetime(2026, 11, 24, 12, 0, tzinfo=KST), 1.0, wall=wall)
    wall.t += 5
    before = clock.monotonic()
    clock.set(dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST))
    wall.t += 1
    assert (True, dt.datetime(2026, 11, 24, 9, 0, 1, tzinfo=KST)) == (
        clock.monotonic() > before,
        clock.now(),
    )


def test_clock_speed_change_keeps_the_current_time() -> None:
    """set_speed changes the rate, not the current instant."""
    wall = _Wall()
    clock = SimClock(dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST), 1.0, wall=wall)
    wall.t += 60
    clock.set_speed(10.0)
    wall.t += 6
    assert dt.datetime(2026, 11, 24, 9, 2, tzinfo=KST) == clock.now()


@pytest.mark.anyio
async def test_admin_clock_sets_day_time_and_speed() -> None:
    """POST /sim/admin/clock moves the market to another day and time."""
    async with running() as (sim, client):
        r = await client.post(
            "/sim/admin/clock", json={"day": "2026-11-25", "time": "14:00:00", "speed": 1}
        )
        now = dt.datetime.fromisoformat(r.json()["now"])
        assert (dt.date(2026, 11, 25), 14, dt.date(2026, 11, 25)) == (
            now.date(), now.hour, sim.market.day,
        )  # fmt: skip


def test_simulate_help_works() -> None:
    """``observer simulate --help`` lists its options."""
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert (0, True) == (result.exit_code, "--speed" in result.output)


def test_simulate_prints_urls_and_masks_credentials() -> None:
    """A short run prints the REST and WS URLs and never the full credentials."""
    from observer.sim import sim_credentials

    key, secret = sim_credentials(7)
    result = CliRunner().invoke(
        cli, ["simulate", "--symbols", "50", "--duration", "0.2", "--day", "2026-11-24"]
    )
    shown = ("http://127.0.0.1:" in result.output, "ws://127.0.0.1:" in result.output)
    leaked = key in result.output or secret in result.output
    assert (0, (True, True), False) == (result.exit_code, shown, leaked)


def test_simulate_rejects_a_bad_start_time() -> None:
    """A malformed --start is a usage error naming the option's problem."""
    result = CliRunner().invoke(cli, ["simulate", "--start", "nine", "--duration", "0.1"])
    assert (True, True) == (result.exit_code != 0, "HH:MM" in result.output)
