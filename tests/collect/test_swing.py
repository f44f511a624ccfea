"""The swing collector against the simulator over loopback: every cycle is booked."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from archive import ArchiveWriter, open_archive
from observer._clock import SimulatedClock
from observer.collect import (
    Journal,
    Projector,
    SwingCollector,
    fetch_master_list,
    swing_symbols,
)
from observer.collect._journal import ArchiveRecord, run_archive_sink
from observer.kis import KisConfig, KisRestClient, RetryPolicy, Secret
from observer.schedule import Tick, TickKind
from observer.sim import SimConfig, Simulator, serve_simulator
from observer.status import MeteredSendStream, RunStatus
from pipeline import KST, Environment, LedgerEntry

DAY = dt.date(2025, 11, 12)
NINE = dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST)
QUICK_RETRY = RetryPolicy(attempts=2, deadline_s=2.0, wait_initial_s=0.01, wait_max_s=0.02)


@asynccontextmanager
async def swing_setup(
    root: Path,
    *,
    speed: float,
    interval: dt.timedelta = dt.timedelta(minutes=2),
    retry: RetryPolicy = QUICK_RETRY,
) -> AsyncIterator[tuple[Simulator, SwingCollector, SimulatedClock]]:
    config = SimConfig(n_symbols=120, trading_day=DAY, start_time=dt.time(9, 0), speed=speed)
    async with serve_simulator(config) as sim:
        universe = await fetch_master_list(sim.master_url)
        kis = KisConfig(
            environment=Environment.SIM,
            app_key=Secret(""),
            app_secret=Secret(""),
            token_cache_dir=None,
            retry=retry,
        ).bind_simulator(
            rest_url=sim.rest_url,
            ws_url=sim.ws_url,
            app_key=sim.app_key,
            app_secret=sim.app_secret,
        )
        clock = SimulatedClock(NINE, speed=speed)
        status = RunStatus(now=clock.now)
        writer = ArchiveWriter(root)
        send, receive = anyio.create_memory_object_stream[ArchiveRecord](1024)
        journal = Journal(Projector(), MeteredSendStream(send, status.stream("archive")), status)
        async with KisRestClient(kis, clock=clock) as client, anyio.create_task_group() as tg:
            tg.start_soon(run_archive_sink, writer, receive)
            await client.auth.access_token()
            swing = SwingCollector(
                client=client,
                journal=journal,
                clock=clock,
                universe=universe,
                environment=Environment.SIM,
                interval=interval,
            )
            yield sim, swing, clock
            await send.aclose()
        writer.close()


def only_entry(root: Path) -> LedgerEntry:
    (entry,) = open_archive(root).ledger()
    return entry


@pytest.mark.anyio
async def test_swing_cycle_archives_the_whole_universe(tmp_path: Path) -> None:
    """A cycle of 120 symbols (4 calls) archives all of them."""
    async with swing_setup(tmp_path, speed=1.0) as (_, swing, clock):
        with anyio.fail_after(30):
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
    entry = only_entry(tmp_path)
    assert (120, 120, {}) == (entry.expected, entry.archived, entry.failed)


@pytest.mark.anyio
async def test_cycle_that_overruns_its_interval_books_the_rest_as_missed(tmp_path: Path) -> None:
    """At 200x a 2-minute interval is 0.6 s; 1 s answers cut the cycle: all 120 missed."""
    async with swing_setup(tmp_path, speed=200.0) as (sim, swing, clock):
        sim.faults.latency(1000, count=100)
        with anyio.fail_after(30):
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
    assert {"missed": 120} == only_entry(tmp_path).failed


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "cause"),
    [("http_5xx", "server_error"), ("rate_limit_burst", "rate_limit")],
)
async def test_calls_still_retried_when_the_interval_ends_are_booked_by_their_last_error(
    tmp_path: Path, fault: str, cause: str
) -> None:
    """An outage that outlasts the 0.6 s interval (200x) while every call is being retried
    books the 120 symbols with the cause the server answered, not as missed."""
    patient = RetryPolicy(attempts=1000, deadline_s=30.0, wait_initial_s=0.05, wait_max_s=0.05)
    async with swing_setup(tmp_path, speed=200.0, retry=patient) as (sim, swing, clock):
        if fault == "http_5xx":
            sim.faults.http_5xx(count=100_000, status=503)
        else:
            sim.faults.rate_limit_burst(seconds=3600.0)
        with anyio.fail_after(30):
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
    assert {cause: 120} == only_entry(tmp_path).failed


@pytest.mark.anyio
async def test_cycle_cut_while_waiting_for_a_token_books_the_rest_as_auth(tmp_path: Path) -> None:
    """Tokens revoked, the replacement throttled past the 90 s interval: all 120 are auth.

    The client waits out its own token minute (61 s), then the simulator's wall-counted
    throttle answers EGW00133 and it backs off: the interval ends with no token.
    """
    interval = dt.timedelta(seconds=90)
    async with swing_setup(tmp_path, speed=60.0, interval=interval) as (sim, swing, clock):
        sim.faults.revoke_tokens()
        with anyio.fail_after(30):
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
    assert {"auth": 120} == only_entry(tmp_path).failed


@pytest.mark.anyio
async def test_cycle_cut_by_shutdown_books_the_calls_in_flight_as_cancelled(
    tmp_path: Path,
) -> None:
    """Shutdown while all 4 calls wait on 1 s answers: their 120 symbols are cancelled."""
    async with swing_setup(tmp_path, speed=1.0) as (sim, swing, clock):
        sim.faults.latency(1000, count=100)
        with anyio.fail_after(30), anyio.move_on_after(0.3):
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
    assert {"cancelled": 120} == only_entry(tmp_path).failed


@pytest.mark.anyio
async def test_failed_calls_are_booked_with_their_cause(tmp_path: Path) -> None:
    """5xx answers that outlast the retries book their symbols as server_error."""
    async with swing_setup(tmp_path, speed=1.0) as (sim, swing, clock):
        sim.faults.http_5xx(count=1000)
        with anyio.fail_after(30):
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
    assert {"server_error": 120} == only_entry(tmp_path).failed


@pytest.mark.anyio
async def test_a_cycle_with_loss_is_a_warning_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lossy cycle is logged once, with its id, its loss and the causes; a clean one not."""
    async with swing_setup(tmp_path, speed=1.0) as (sim, swing, clock):
        with anyio.fail_after(30), caplog.at_level(logging.WARNING, "observer.collect"):
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
            sim.faults.http_5xx(count=1000)
            await anyio.sleep(1.0)  # the next cycle id is the next second
            await swing.run_cycle(Tick(kind=TickKind.SWING, scheduled=clock.now()), DAY)
    logged = [
        (r.cycle_id, r.lost, r.failed)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "cycle_loss"
    ]
    lossy = [e.cycle_id for e in open_archive(tmp_path).ledger() if e.failed]
    assert [(lossy[0], 120, {"server_error": 120})] == logged


@pytest.mark.anyio
async def test_late_tick_books_the_cycle_missed_without_fetching(tmp_path: Path) -> None:
    """A tick that fired after its grace is booked whole as missed; nothing is fetched."""
    async with swing_setup(tmp_path, speed=1.0) as (sim, swing, clock):
        served_before = sim.truth.count(channel="FHKST11300006")
        tick = Tick(kind=TickKind.SWING, scheduled=clock.now(), missed=True)
        await swing.run_cycle(tick, DAY)
        served_after = sim.truth.count(channel="FHKST11300006")
    assert ({"missed": 120}, 0) == (only_entry(tmp_path).failed, served_after - served_before)


def test_swing_symbols_put_the_scalp_symbols_first_and_keep_the_universes_order() -> None:
    """The scalp symbols first (listed in the universe or not), then the universe's others
    in its order, each once."""
    universe = ("000660", "005930", "035420", "051910")
    assert ("035420", "373220", "000660", "005930", "051910") == swing_symbols(
        universe, ("035420", "373220")
    )
