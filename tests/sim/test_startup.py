"""Starting the simulator mid-day: the morning is computed before the market clock starts."""

from __future__ import annotations

import datetime as dt
import time

import anyio
import httpx
import pytest

from observer.collect._simthread import simulator_thread
from observer.sim import serve_simulator
from pipeline import KST
from tests.sim.helpers import DAY, config


@pytest.mark.anyio
async def test_mid_day_start_is_warm_when_the_simulator_is_up() -> None:
    """Every symbol is computed to the start time before the port answers."""
    progress: list[tuple[int, int]] = []

    def on_warm_up(done: int, total: int) -> None:
        progress.append((done, total))

    cfg = config(n_symbols=40, start_time=dt.time(14, 0), speed=1.0, warm_up=True)
    with anyio.fail_after(60):
        async with (
            serve_simulator(cfg, on_warm_up=on_warm_up) as sim,
            httpx.AsyncClient(base_url=sim.rest_url, timeout=10) as client,
        ):
            status = (await client.get("/sim/admin/status")).json()
    assert ((40, 40), True) == (progress[-1], status["warm_up_done"])


@pytest.mark.anyio
async def test_mid_day_market_starts_at_its_start_time_after_the_warm_up() -> None:
    """The clock starts when the simulator is up, not when the warm-up begins."""
    cfg = config(n_symbols=300, start_time=dt.time(15, 0), speed=20.0, warm_up=True)
    start = dt.datetime.combine(DAY, dt.time(15, 0), tzinfo=KST)
    began = time.monotonic()
    with anyio.fail_after(60):
        async with serve_simulator(cfg) as sim:
            now = sim.clock.now()
            took = time.monotonic() - began
    # the warm-up took a while (≥ 0.5 s here): at 20x a clock already running would read
    # ten or more market seconds late; this one reads the start time to within a wall second
    assert (True, True) == (took > 0.5, dt.timedelta(0) <= now - start < dt.timedelta(seconds=20))


@pytest.mark.anyio
@pytest.mark.slow
async def test_simulator_thread_waits_for_a_warm_up_longer_than_its_start_timeout() -> None:
    """The start-up timeout bounds a stall, not a warm-up that keeps making progress."""
    cfg = config(n_symbols=600, start_time=dt.time(15, 20), warm_up=True)
    began = time.monotonic()
    with anyio.fail_after(120):
        async with simulator_thread(cfg, start_timeout_s=3.0) as sim:
            took = time.monotonic() - began
            warm = sim.warm_up_done
    assert (True, True) == (took > 3.0, warm)
