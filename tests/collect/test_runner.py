"""Run-level guards: one run per archive root, a journal ahead of the clock, capacity and
registration limits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import anyio
import pytest

from archive import ArchiveWriter, RootLock
from observer._clock import RealClock, SimulatedClock
from observer._errors import CollectionError, ConfigError
from observer.collect import (
    MAX_SCALP_SYMBOLS,
    RunSettings,
    ScalpCollector,
    check_swing_capacity,
    check_symbols,
    parse_universe,
    run_collection,
)
from observer.kis import KisConfig, Secret
from observer.schedule import SchedulePlan, TradingSession
from observer.status import RunStatus
from pipeline import KST, Environment, PipelineConfig, ValidationConfig
from tests.pipeline.helpers import swing_start


@pytest.mark.anyio
async def test_second_run_on_the_same_archive_root_refuses_to_start(tmp_path: Path) -> None:
    """While a run holds the root's lock, another run stops with a clear message."""
    kis = KisConfig(environment=Environment.SIM, app_key=Secret(""), app_secret=Secret(""))
    clock = RealClock()
    with RootLock(tmp_path), pytest.raises(CollectionError, match="refusing to start"):
        await run_collection(
            RunSettings(archive_root=str(tmp_path), status_port=None),
            kis=kis,
            clock=clock,
            plans=lambda: iter([]),
            universe=("005930",),
            status=RunStatus(now=clock.now),
        )


@pytest.mark.anyio
async def test_an_archive_root_that_is_a_file_is_refused_clearly(tmp_path: Path) -> None:
    """A file where the archive root should be is a CollectionError naming it."""
    root = tmp_path / "afile"
    root.write_text("")
    kis = KisConfig(environment=Environment.SIM, app_key=Secret(""), app_secret=Secret(""))
    clock = RealClock()
    with pytest.raises(CollectionError, match=f"cannot use archive root {root}"):
        await run_collection(
            RunSettings(archive_root=str(root), status_port=None),
            kis=kis,
            clock=clock,
            plans=lambda: iter([]),
            universe=("005930",),
            status=RunStatus(now=clock.now),
        )


async def _refused_resume(
    root: Path, kis: KisConfig, open_at: dt.datetime, now: dt.datetime, match: str
) -> None:
    """A run of the session opening at ``open_at`` on ``root``, its clock at ``now``,
    stops with a CollectionError matching ``match`` before it asks the broker anything."""
    session = TradingSession(
        day=open_at.date(), open=open_at, close=open_at.replace(hour=15, minute=30)
    )
    clock = SimulatedClock(now)
    with (
        anyio.fail_after(30),
        pytest.RaisesGroup(pytest.RaisesExc(CollectionError, match=match), flatten_subgroups=True),
    ):
        await run_collection(
            RunSettings(archive_root=str(root), status_port=None),
            kis=kis,
            clock=clock,
            plans=lambda: iter([SchedulePlan.for_session(session, start=open_at)]),
            universe=("005930",),
            status=RunStatus(now=clock.now),
        )


def _archive_bytes(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*.zst"))}


@pytest.mark.anyio
async def test_run_refuses_to_resume_a_journal_that_runs_past_its_clock(tmp_path: Path) -> None:
    """A day journaled up to 09:05 is not resumed by a run whose clock reads 09:00 (the same
    simulated slice run twice): a clear error, and nothing is appended."""
    writer = ArchiveWriter(tmp_path)
    writer.append(
        swing_start(
            dt.datetime(2026, 11, 18, 9, 4, tzinfo=KST),
            "swing-20261118-090400",
            received=dt.datetime(2026, 11, 18, 9, 5, tzinfo=KST),
            seq=1,
            symbols=("005930",),
        )
    )
    writer.close()
    before = _archive_bytes(tmp_path)
    start = dt.datetime(2026, 11, 18, 9, 0, tzinfo=KST)
    # (a port nothing listens on: the run must stop before it asks anything)
    kis = KisConfig(
        environment=Environment.SIM, app_key=Secret(""), app_secret=Secret("")
    ).bind_simulator(
        rest_url="http://127.0.0.1:9",
        ws_url="ws://127.0.0.1:9/tryitout",
        app_key="k" * 36,
        app_secret="s" * 180,
    )
    await _refused_resume(tmp_path, kis, start, start, "already runs to 09:05:00 KST")
    assert before == _archive_bytes(tmp_path)


def test_symbols_validation_would_always_reject_are_refused_with_the_setting_to_widen() -> None:
    """An ETN code in the universe under the built-in 6-digit pattern is a config error naming
    it; the same universe under a pattern that admits ETNs passes."""
    universe = ("005930", "Q500001", "000660")
    with pytest.raises(ConfigError, match=r"universe symbol 'Q500001' does not match .*widen"):
        check_symbols(universe, ("005930",), PipelineConfig())
    etns = PipelineConfig(validation=ValidationConfig(symbol_pattern="[0-9]{6}|Q[0-9]{6}"))
    assert check_symbols(universe, ("005930",), etns) is None


def test_paper_account_universe_that_cannot_fit_the_interval_is_refused() -> None:
    """500 symbols one by one at 2 requests/s do not fit 120 s: a clear error."""
    with pytest.raises(ConfigError, match="500 symbols needs 500 current-price calls"):
        check_swing_capacity(
            500, rate_per_s=2.0, interval=dt.timedelta(seconds=120), multi_price=False
        )


def test_full_universe_fits_a_live_interval_in_84_calls() -> None:
    """2,500 symbols at 30 a call is 84 calls, well inside 120 s at 18 requests/s."""
    assert 84 == check_swing_capacity(
        2500, rate_per_s=18.0, interval=dt.timedelta(seconds=120), multi_price=True
    )


def test_more_scalp_symbols_than_registrations_allow_is_refused() -> None:
    """21 scalp symbols would need 42 registrations: refused before anything connects."""
    symbols = [f"{n:06d}" for n in range(MAX_SCALP_SYMBOLS + 1)]
    with pytest.raises(ConfigError, match="41"):
        ScalpCollector(
            client=None,  # type: ignore[arg-type]
            journal=None,  # type: ignore[arg-type]
            clock=RealClock(),
            symbols=symbols,
            environment=Environment.SIM,
            status=RunStatus(now=RealClock().now),
        )


def test_universe_file_keeps_first_column_skips_comments_and_repeats() -> None:
    """Codes come from the first column, in order, once each; comments and blanks skipped."""
    lines = ["# KOSPI", "005930,KOSPI,삼성전자", "", "000660 KOSPI", "005930", "Q500001"]
    assert ("005930", "000660", "Q500001") == parse_universe(lines)


def test_universe_line_that_is_not_a_code_names_its_line() -> None:
    """A malformed code is an error naming the file and line."""
    with pytest.raises(ConfigError, match=r"universe\.txt:2"):
        parse_universe(["005930", "59300"], origin="universe.txt")


@pytest.mark.anyio
async def test_the_archive_failing_under_a_run_is_a_collection_error_naming_the_root(
    tmp_path: Path,
) -> None:
    """A writer error inside the run's task group (disk full) becomes a CollectionError that
    names the archive root, not the writer's traceback."""
    from archive import ArchiveIOError
    from observer.collect._runner import _archive_failures

    async def sink() -> None:
        raise ArchiveIOError("seg.jsonl.zst: cannot write frame: No space left on device")

    with pytest.raises(CollectionError, match=f"archive root {tmp_path}: .*No space left"):
        async with _archive_failures(tmp_path), anyio.create_task_group() as group:
            group.start_soon(sink)


@pytest.mark.anyio
async def test_sends_the_dead_archive_sink_refused_add_nothing_to_its_error(
    tmp_path: Path,
) -> None:
    """The archive sink dies of a writer error; a collector's send then finds its stream
    closed: one CollectionError naming the root, not a group with BrokenResourceError."""
    from archive import ArchiveIOError
    from observer.collect._runner import _archive_failures

    send, receive = anyio.create_memory_object_stream[int](1)

    async def sink() -> None:
        receive.close()
        raise ArchiveIOError("seg.jsonl.zst: cannot write frame: File too large")

    async def collector() -> None:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.01)
            await send.send(1)

    with pytest.raises(CollectionError, match=f"archive root {tmp_path}: .*File too large"):
        async with _archive_failures(tmp_path), anyio.create_task_group() as group:
            group.start_soon(collector)
            group.start_soon(sink)
    send.close()


@pytest.mark.anyio
async def test_a_live_run_refuses_to_resume_a_simulated_journal(tmp_path: Path) -> None:
    """A day whose journal a simulated run wrote is not resumed by a live run (one day's
    archive, one environment): a clear error, and nothing is appended."""
    start = dt.datetime(2026, 11, 18, 9, 0, tzinfo=KST)
    writer = ArchiveWriter(tmp_path)
    writer.append(swing_start(start, "swing-20261118-090000", received=start, seq=1))
    writer.close()
    before = _archive_bytes(tmp_path)
    # (a port nothing listens on: the run must stop before it asks anything)
    kis = KisConfig(
        environment=Environment.LIVE,
        app_key=Secret("k" * 36),
        app_secret=Secret("s" * 180),
        rest_url="http://127.0.0.1:9",
        ws_url="ws://127.0.0.1:9",
    )
    later = start + dt.timedelta(minutes=5)
    await _refused_resume(tmp_path, kis, start, later, "written by a sim run, this run is live")
    assert before == _archive_bytes(tmp_path)
