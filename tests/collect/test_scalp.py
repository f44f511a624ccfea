"""The scalp collector against the simulator over loopback: REST fallback and missed strikes."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec
import pytest

from archive import ArchiveWriter, open_archive
from observer._clock import SimulatedClock
from observer.collect import Journal, Projector, ScalpCollector, fetch_master_list
from observer.collect._journal import ArchiveRecord, run_archive_sink
from observer.kis import KisConfig, KisRestClient, Secret
from observer.schedule import Tick, TickKind
from observer.sim import SimConfig, Simulator, serve_simulator
from observer.status import MeteredSendStream, RunStatus
from pipeline import KST, Environment, LedgerEntry, Source

DAY = dt.date(2025, 11, 12)
NINE = dt.datetime(2025, 11, 12, 9, 0, 5, tzinfo=KST)


@asynccontextmanager
async def scalp_setup(
    root: Path,
) -> AsyncIterator[tuple[Simulator, ScalpCollector, SimulatedClock, RunStatus]]:
    config = SimConfig(n_symbols=60, trading_day=DAY, start_time=dt.time(9, 0, 5))
    async with serve_simulator(config) as sim:
        codes = await fetch_master_list(sim.master_url)
        kis = KisConfig(
            environment=Environment.SIM,
            app_key=Secret(""),
            app_secret=Secret(""),
            token_cache_dir=None,
        ).bind_simulator(
            rest_url=sim.rest_url,
            ws_url=sim.ws_url,
            app_key=sim.app_key,
            app_secret=sim.app_secret,
        )
        clock = SimulatedClock(NINE)
        status = RunStatus(now=clock.now)
        writer = ArchiveWriter(root)
        send, receive = anyio.create_memory_object_stream[ArchiveRecord](1024)
        journal = Journal(Projector(), MeteredSendStream(send, status.stream("archive")), status)
        async with KisRestClient(kis, clock=clock) as client, anyio.create_task_group() as tg:
            tg.start_soon(run_archive_sink, writer, receive)
            await client.auth.access_token()
            scalp = ScalpCollector(
                client=client,
                journal=journal,
                clock=clock,
                symbols=codes[:3],
                environment=Environment.SIM,
                status=status,
            )
            yield sim, scalp, clock, status
            await send.aclose()
        writer.close()


def seconds(n: int) -> list[Tick]:
    return [Tick(kind=TickKind.SCALP, scheduled=NINE + dt.timedelta(seconds=k)) for k in range(n)]


@pytest.mark.anyio
async def test_socket_down_serves_every_strike_over_rest(tmp_path: Path) -> None:
    """With the socket down, 3 symbols x 3 seconds are all served by REST, none lost."""
    async with scalp_setup(tmp_path) as (_, scalp, _clock, status):
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for tick in seconds(3):
                    await scalp.strike(tick, DAY, tg)
            await scalp.finish()
    (entry,) = open_archive(tmp_path).ledger()
    sources = {s.source for s in open_archive(tmp_path).snapshots()}
    assert (9, 9, 0, {Source.KIS_REST}, 9) == (
        entry.expected,
        entry.rest_fallbacks,
        entry.expected - entry.archived - entry.deduplicated,
        sources,
        status.rest_fallbacks,
    )


@pytest.mark.anyio
async def test_missed_strike_is_booked_without_fetching(tmp_path: Path) -> None:
    """A strike that fired too late books its symbols missed and asks the server nothing."""
    async with scalp_setup(tmp_path) as (sim, scalp, _clock, _status):
        before = sim.truth.count(channel="FHKST11300006")
        late = Tick(kind=TickKind.SCALP, scheduled=NINE, missed=True)
        async with anyio.create_task_group() as tg:
            await scalp.strike(late, DAY, tg)
        after = sim.truth.count(channel="FHKST11300006")
    entries: list[LedgerEntry] = list(open_archive(tmp_path).ledger())
    assert ([{"missed": 3}], 0) == ([e.failed for e in entries], after - before)


def late(n: int) -> list[Tick]:
    return [msgspec.structs.replace(tick, missed=True) for tick in seconds(n)]


@pytest.mark.anyio
async def test_consecutive_late_strikes_are_booked_as_one_missed_cycle(tmp_path: Path) -> None:
    """Five late seconds in a row (a stalled process) are one cycle: 3 symbols x 5 missed."""
    async with scalp_setup(tmp_path) as (_sim, scalp, _clock, _status):
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for tick in late(5):
                    await scalp.strike(tick, DAY, tg)
    entries: list[LedgerEntry] = list(open_archive(tmp_path).ledger())
    assert [("scalp-missed-20251112-090005", 15, {"missed": 15})] == [
        (e.cycle_id, e.expected, e.failed) for e in entries
    ]


@pytest.mark.anyio
async def test_late_strikes_held_when_the_collection_is_cut_are_still_booked(
    tmp_path: Path,
) -> None:
    """Shutdown right after four late seconds: they are booked missed, not dropped."""
    async with scalp_setup(tmp_path) as (_sim, scalp, _clock, _status):
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for tick in late(4):
                    await scalp.strike(tick, DAY, tg)
                tg.cancel_scope.cancel()
    entries: list[LedgerEntry] = list(open_archive(tmp_path).ledger())
    assert [{"missed": 12}] == [e.failed for e in entries]


@pytest.mark.anyio
async def test_a_strike_on_time_ends_the_run_of_late_ones(tmp_path: Path) -> None:
    """Two late seconds, one on time, one late: two missed cycles and the struck one."""
    async with scalp_setup(tmp_path) as (_sim, scalp, _clock, _status):
        ticks = [*late(2), seconds(3)[2], late(4)[3]]
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for tick in ticks:
                    await scalp.strike(tick, DAY, tg)
            await scalp.finish()
    expected = {"scalp-missed-20251112-090005": 6, "scalp-missed-20251112-090008": 3}
    ledger = {e.cycle_id: e.expected for e in open_archive(tmp_path).ledger()}
    assert expected == {k: v for k, v in ledger.items() if k.startswith("scalp-missed")}


class _Restored(logging.Handler):
    """Counts the ``ws_event`` lines of kind restored that run_socket logs; ``reached[n]``
    is set at the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.reached = {1: anyio.Event(), 2: anyio.Event()}

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "ws_event" and getattr(record, "kind", "") == "restored":
            self.count += 1
            if self.count in self.reached:
                self.reached[self.count].set()


@pytest.mark.anyio
async def test_ws_last_error_is_cleared_once_the_socket_is_restored(tmp_path: Path) -> None:
    """After a disconnect and a full restore, the status no longer shows the old error."""
    from observer.collect._socket import run_socket

    restored = _Restored()
    logger = logging.getLogger("observer.collect.socket")
    logger.addHandler(restored)
    logger.setLevel(logging.INFO)
    try:
        async with scalp_setup(tmp_path) as (sim, scalp, clock, status):
            client = scalp._client
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    await tg.start(
                        functools.partial(
                            run_socket,
                            kis=client.config,
                            auth=client.auth,
                            clock=clock,
                            scalp=scalp,
                            journal=scalp._journal,
                            status=status,
                            trading_day=DAY,
                            environment=Environment.SIM,
                            market_open=lambda _now: True,
                        )
                    )
                    await restored.reached[1].wait()
                    sim.faults.disconnect()
                    await restored.reached[2].wait()
                    seen = (status.ws_last_error, status.ws_connected, status.ws_reconnect_count)
                    tg.cancel_scope.cancel()
    finally:
        logger.removeHandler(restored)
    assert (None, True, 1) == seen


@pytest.mark.anyio
async def test_fallback_timed_out_for_want_of_a_token_is_booked_auth(tmp_path: Path) -> None:
    """Tokens revoked and the replacement not yet issued when the fallback's time is up:
    its symbols failed for want of a token (auth), not because the server was slow."""
    async with scalp_setup(tmp_path) as (sim, scalp, _clock, _status):
        sim.faults.revoke_tokens()
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                await scalp.strike(seconds(1)[0], DAY, tg)
            await scalp.finish()
    (entry,) = open_archive(tmp_path).ledger()
    assert {"auth": 3} == entry.failed


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "cause"),
    [("http_5xx", "server_error"), ("rate_limit_burst", "rate_limit")],
)
async def test_fallback_still_retried_when_its_time_is_up_is_booked_by_its_last_error(
    tmp_path: Path, fault: str, cause: str
) -> None:
    """Every REST answer a 503 (or EGW00201) while the fallback retries past its 2 s: its
    symbols are booked with the cause the server answered, not as a timeout."""
    async with scalp_setup(tmp_path) as (sim, scalp, _clock, _status):
        if fault == "http_5xx":
            sim.faults.http_5xx(count=100_000, status=503)
        else:
            sim.faults.rate_limit_burst(seconds=3600.0)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                await scalp.strike(seconds(1)[0], DAY, tg)
            await scalp.finish()
    (entry,) = open_archive(tmp_path).ledger()
    assert {cause: 3} == entry.failed
