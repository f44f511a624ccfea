"""A run stopped and started again on the same archive: downtime booked, derivation exact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import anyio
import pytest

from archive import open_archive
from observer._errors import CollectionError
from observer.collect import project_journal, read_journal
from observer.schedule import SchedulePlan
from pipeline import (
    KST,
    CycleStarted,
    EnrichmentConfig,
    PipelineConfig,
    config_mapping,
    decode_config,
    encode,
)
from tests.e2e._harness import DAY, SESSION, WARMUP, SliceRun, simulate_slice


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


#: the first run's stage settings: spreads rounded to one digit, so every snapshot it
#: archived differs from what the built-in settings (the second run's) derive
ROUNDED = PipelineConfig(enrichment=EnrichmentConfig(spread_bps_digits=1))
RESUMED_AT = dt.datetime.combine(DAY, dt.time(9, 3), tzinfo=KST)


@pytest.fixture(scope="module")
async def resumed(tmp_path_factory: pytest.TempPathFactory) -> SliceRun:
    root = tmp_path_factory.mktemp("restart") / "archive"
    with anyio.fail_after(100):
        await simulate_slice(root, length=dt.timedelta(minutes=2), pipeline_config=ROUNDED)
        return await simulate_slice(root, length=dt.timedelta(minutes=2), at_time=RESUMED_AT.time())


@pytest.mark.slow
@pytest.mark.anyio
async def test_downtime_is_booked_as_missed_scalp_seconds(resumed: SliceRun) -> None:
    """The seconds between the first run's end and the second's start are booked missed."""
    missed = [e for e in resumed.ledger if e.cycle_id.startswith("scalp-missed-")]
    booked = sum(e.failed.get("missed", 0) for e in missed)
    assert (1, True) == (len(missed), 40 * 5 <= booked <= 60 * 5)


@pytest.mark.slow
@pytest.mark.anyio
async def test_resumed_day_rederives_byte_for_byte(resumed: SliceRun) -> None:
    """Both runs' archives are exactly the projection of the day's whole raw journal, each
    run's part with the stage settings it journaled (no config given here)."""
    reader = open_archive(resumed.root)
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(resumed.root, DAY)))
    assert archived == rederived


@pytest.mark.slow
@pytest.mark.anyio
async def test_each_run_derives_with_the_pipeline_config_it_journaled(resumed: SliceRun) -> None:
    """Every cycle start journals its run's config (the first run's rounds spreads to one
    digit), and each snapshot's spread is rounded exactly when its cycle's config says so."""
    starts = [e for e in read_journal(resumed.root, DAY) if isinstance(e, CycleStarted)]
    digits = {
        e.cycle_id: decode_config(e.pipeline_config or {}).enrichment.spread_bps_digits
        for e in starts
    }
    journaled = {encode(e.pipeline_config) for e in starts}
    rounded = {
        (digits[s.cycle_id], s.enrichment.spread_bps == round(s.enrichment.spread_bps, 1))
        for s in resumed.snapshots()
        if s.enrichment.spread_bps is not None
    }
    configs = {encode(config_mapping(c)) for c in (ROUNDED, PipelineConfig())}
    # (None, True): a spread of the resumed run that happens to need no second digit
    assert (configs, {(1, True), (None, False)}) == (journaled, rounded - {(None, True)})


def _sim_kis(sim: Any, app_secret: str | None = None) -> Any:
    """A KisConfig bound to the simulator thread ``sim`` (its own secret unless given)."""
    from observer.kis import KisConfig, Secret
    from pipeline import Environment

    return KisConfig(
        environment=Environment.SIM, app_key=Secret(""), app_secret=Secret("")
    ).bind_simulator(
        rest_url=sim.rest_url,
        ws_url=sim.ws_url,
        app_key=sim.app_key,
        app_secret=sim.app_secret if app_secret is None else app_secret,
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.zst"))}


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_slice_that_starts_before_the_journal_ends_is_refused(resumed: SliceRun) -> None:
    """Running the 09:00 slice again on an archive whose journal reaches 09:05 is refused
    with a clear error, and the archive is left exactly as it was."""
    before = _tree(resumed.root)
    with (
        anyio.fail_after(100),
        pytest.RaisesGroup(
            pytest.RaisesExc(CollectionError, match="already runs to 09:0"), flatten_subgroups=True
        ),
    ):
        await simulate_slice(resumed.root, length=dt.timedelta(minutes=2))
    assert before == _tree(resumed.root)


def _lose_last(root: Path, mode: str, source: str, count: int) -> list[bytes]:
    """Rewrite a snapshot partition without its last ``count`` records, as a crash that lost
    them in a buffer leaves it (the journal holds their raw events, the archive not them).
    Returns the lost records' bytes."""
    import shutil

    from archive import ArchiveWriter

    records = list(open_archive(root).snapshots(mode=mode, source=source))
    shutil.rmtree(root / "snapshots" / f"date={DAY}" / f"mode={mode}" / f"source={source}")
    with ArchiveWriter(root) as writer:
        writer.append_many(records[:-count])
    return [encode(r) for r in records[-count:]]


@pytest.mark.anyio
async def test_records_a_crash_lost_before_the_archive_are_restored_on_resume(
    tmp_path: Path,
) -> None:
    """Snapshots projected from journaled events but lost before they reached the archive
    are re-derived and archived when the day resumes: the archive is again exactly the
    projection of the journal, with no seq missing."""
    root = tmp_path / "archive"
    with anyio.fail_after(100):
        await simulate_slice(root, length=dt.timedelta(minutes=1), n_symbols=60)
        lost = _lose_last(root, "scalp", "kis-ws", 25)
        await simulate_slice(
            root, length=dt.timedelta(minutes=1), n_symbols=60, at_time=dt.time(9, 2)
        )
    reader = open_archive(root)
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(root, DAY)))
    seqs = [s.seq for s in reader.snapshots(mode="scalp", source="kis-ws")]
    assert (True, rederived, list(range(1, len(seqs) + 1))) == (
        set(lost) <= set(archived),
        archived,
        seqs,
    )


def _tear_last(root: Path, mode: str, source: str, count: int) -> None:
    """Leave a snapshot partition as a crash mid-write does: its last ``count`` records in
    an open segment whose only frame is cut halfway (a torn tail for recovery to cut)."""
    import shutil

    import zstandard

    from archive import ArchiveWriter

    records = list(open_archive(root).snapshots(mode=mode, source=source))
    directory = root / "snapshots" / f"date={DAY}" / f"mode={mode}" / f"source={source}"
    shutil.rmtree(directory)
    with ArchiveWriter(root) as writer:
        writer.append_many(records[:-count])
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(
        b"".join(encode(r) + b"\n" for r in records[-count:])
    )
    torn = directory / f"part-{records[-count].seq:012d}.jsonl.zst.open"
    torn.write_bytes(frame[: len(frame) // 2])


@pytest.mark.anyio
async def test_a_torn_tail_the_resume_restores_is_not_booked_as_loss(tmp_path: Path) -> None:
    """Records cut off a torn segment tail are re-derived from the journal on resume, so
    the books show no torn_tail loss, and the archive is the projection of the journal."""
    root = tmp_path / "archive"
    with anyio.fail_after(100):
        await simulate_slice(root, length=dt.timedelta(minutes=1), n_symbols=60)
        _tear_last(root, "scalp", "kis-ws", 25)
        await simulate_slice(
            root, length=dt.timedelta(minutes=1), n_symbols=60, at_time=dt.time(9, 2)
        )
    reader = open_archive(root)
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(root, DAY)))
    torn_booked = sum(e.failed.get("torn_tail", 0) for e in reader.ledger())
    assert (0, rederived) == (torn_booked, archived)


@pytest.mark.anyio
async def test_a_session_that_fails_logs_why_and_is_not_called_cut(tmp_path: Path) -> None:
    """Credentials the broker rejects at login end the run; the log says so in a
    session_failed event, and session_ended carries the error instead of cut (no signal)."""
    from observer.collect import RunSettings, fetch_master_list, run_collection
    from observer.collect._simthread import simulator_thread
    from observer.sim import SimConfig
    from observer.status import RunStatus
    from tests.e2e._harness import _captured

    begin = dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=KST)
    plan = SchedulePlan.for_session(
        SESSION, start=begin - WARMUP, length=dt.timedelta(minutes=1) + WARMUP, collect_from=begin
    )
    config = SimConfig(n_symbols=20, trading_day=DAY, start_time=(begin - WARMUP).time())
    with anyio.fail_after(60), _captured("observer.run") as logged:
        async with simulator_thread(config) as sim:
            codes = await fetch_master_list(sim.master_url)
            kis = _sim_kis(sim, app_secret="s" * 180)  # not the simulator's: rejected at login
            with pytest.RaisesGroup(pytest.RaisesExc(Exception), flatten_subgroups=True):
                await run_collection(
                    RunSettings(archive_root=str(tmp_path), status_port=None),
                    kis=kis,
                    clock=sim.clock,
                    plans=lambda: iter([plan]),
                    universe=codes,
                    status=RunStatus(now=sim.clock.now),
                    rate_clock=sim.clock,
                )
    failed = [r for r in logged if r.getMessage() == "session_failed"]
    [ended] = [r for r in logged if r.getMessage() == "session_ended"]
    assert (1, False, True) == (
        len(failed),
        ended.__dict__["cut"],
        "403" in str(ended.__dict__.get("error")),
    )


@pytest.mark.anyio
async def test_resuming_with_a_clock_behind_the_journal_repeats_no_cycle(tmp_path: Path) -> None:
    """A run whose clock starts 20 s before the journal's end (within the refusal's limit)
    strikes no grid point the journal has: no cycle id twice, no burst drop of re-collected
    seconds, and the archive is the projection of the journal."""
    root = tmp_path / "archive"
    with anyio.fail_after(100):
        await simulate_slice(root, length=dt.timedelta(minutes=1), n_symbols=60)
        await simulate_slice(
            root, length=dt.timedelta(minutes=1), n_symbols=60, at_time=dt.time(9, 0, 40)
        )
    reader = open_archive(root)
    ids = [e.cycle_id for e in reader.ledger()]
    dropped = sum(sum(e.dropped.values()) for e in reader.ledger())
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(root, DAY)))
    assert ([], 0, rederived) == (
        sorted({i for i in ids if ids.count(i) > 1}),
        dropped,
        archived,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("first_at", [dt.time(9, 0), dt.time(9, 0, 15)], ids=["open", "mid"])
async def test_scalp_seconds_the_journal_lost_are_booked_missed_on_resume(
    tmp_path: Path, first_at: dt.time
) -> None:
    """A journal that lost three seconds' strikes (a crash between two raw partitions'
    frames, or late seconds held for booking when the process died) has expectations in no
    bucket; the resume books those seconds missed, and the archive stays the projection.
    (``mid``: the lost seconds are in a cycle named for the run's first second.)"""
    from archive import ArchiveWriter
    from pipeline import ScalpStruck

    first = tmp_path / "first"
    with anyio.fail_after(100):
        await simulate_slice(first, length=dt.timedelta(minutes=1), n_symbols=60, at_time=first_at)
    gone = {dt.datetime.combine(DAY, dt.time(9, 0, s), tzinfo=KST) for s in (20, 21, 22)}
    kept = [
        e for e in read_journal(first, DAY) if not (isinstance(e, ScalpStruck) and e.second in gone)
    ]
    root = tmp_path / "archive"
    with ArchiveWriter(root) as writer:  # the lossy journal and all it projects, as on disk
        writer.append_many(kept)
        writer.append_many(project_journal(kept))
    with anyio.fail_after(100):
        await simulate_slice(
            root, length=dt.timedelta(minutes=1), n_symbols=60, at_time=dt.time(9, 2)
        )
    reader = open_archive(root)
    booked = [
        (e.cycle_id, e.expected, e.failed)
        for e in reader.ledger()
        if e.cycle_id == "scalp-missed-20251112-090020"
    ]
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(root, DAY)))
    assert ([("scalp-missed-20251112-090020", 15, {"missed": 15})], rederived) == (
        booked,
        archived,
    )


async def _resume_with_clock_at(root: Path, plan: SchedulePlan, clock_at: dt.time) -> None:
    """Resume ``root`` with ``plan`` on a simulated clock that starts at ``clock_at`` (KST):
    past the plan's start, as when replaying a big journal outlasts it, or after the close."""
    from observer.collect import RunSettings, fetch_master_list, run_collection
    from observer.collect._simthread import simulator_thread
    from observer.sim import SimConfig
    from observer.status import RunStatus

    config = SimConfig(n_symbols=60, trading_day=DAY, start_time=clock_at, speed=10.0)
    async with simulator_thread(config) as sim:
        codes = await fetch_master_list(sim.master_url)
        kis = _sim_kis(sim)
        await run_collection(
            RunSettings(archive_root=str(root), scalp_symbols=codes[:5], status_port=None),
            kis=kis,
            clock=sim.clock,
            plans=lambda: iter([plan]),
            universe=codes[5:],
            status=RunStatus(now=sim.clock.now),
            rate_clock=sim.clock,
        )


def _scalp_seconds(root: Path) -> list[dt.datetime]:
    """Every scalp second the day's journal books an expectation for (struck, or in a
    missed cycle), as often as it does."""
    from pipeline import ScalpStruck

    seconds: list[dt.datetime] = []
    for event in read_journal(root, DAY):
        if isinstance(event, ScalpStruck):
            seconds.append(event.second)
        elif isinstance(event, CycleStarted) and event.cycle_id.startswith("scalp-missed-"):
            per = len(set(event.symbols))
            step = dt.timedelta(seconds=1)
            seconds += [event.scheduled_time + k * step for k in range(len(event.symbols) // per)]
    return seconds


@pytest.mark.anyio
async def test_a_resume_whose_replay_outlasts_the_start_books_no_grid_point_twice(
    tmp_path: Path,
) -> None:
    """A resumed run whose clock is already 10 s past its collection start (09:02:00, a
    swing grid point) books the down time only up to that start and leaves the rest to the
    ticker: no cycle id twice, no scalp second booked twice."""
    root = tmp_path / "archive"
    begin = dt.datetime.combine(DAY, dt.time(9, 2), tzinfo=KST)
    plan = SchedulePlan.for_session(
        SESSION, start=begin - WARMUP, length=dt.timedelta(seconds=30) + WARMUP, collect_from=begin
    )
    with anyio.fail_after(100):
        await simulate_slice(root, length=dt.timedelta(minutes=1), n_symbols=60)
        await _resume_with_clock_at(root, plan, dt.time(9, 2, 10))
    ids = [e.cycle_id for e in open_archive(root).ledger()]
    seconds = _scalp_seconds(root)
    assert ([], []) == (
        sorted({i for i in ids if ids.count(i) > 1}),
        sorted({s for s in seconds if seconds.count(s) > 1}),
    )


@pytest.fixture(scope="module")
async def within_a_minute(tmp_path_factory: pytest.TempPathFactory) -> SliceRun:
    """A slice that ended cleanly at 09:00:30, then one resumed at 09:00:45."""
    root = tmp_path_factory.mktemp("minute") / "archive"
    with anyio.fail_after(100):
        await simulate_slice(root, length=dt.timedelta(seconds=30), n_symbols=60)
        return await simulate_slice(
            root, length=dt.timedelta(seconds=30), n_symbols=60, at_time=dt.time(9, 0, 45)
        )


@pytest.mark.anyio
async def test_resuming_within_a_minute_an_earlier_run_collected_in_repeats_no_cycle_id(
    within_a_minute: SliceRun,
) -> None:
    """Both slices strike in the 09:00 minute: the resumed run's first cycle is named for
    its first second, so no cycle id appears twice, and the archive is still the
    projection of the journal."""
    root = within_a_minute.root
    reader = open_archive(root)
    ids = [e.cycle_id for e in reader.ledger()]
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(root, DAY)))
    assert ([], True, rederived) == (
        sorted({i for i in ids if ids.count(i) > 1}),
        "scalp-20251112-090045" in ids,
        archived,
    )


@pytest.mark.anyio
async def test_the_seconds_after_a_cleanly_ended_slice_are_down_time_not_journal_loss(
    within_a_minute: SliceRun,
) -> None:
    """The seconds from the first slice's end (09:00:30, though its final swing cycle ran a
    little longer) to the resumed start are one down-time cycle of 15 seconds x 5 symbols;
    none is reported as lost from the journal."""
    missed = [
        (e.cycle_id, e.expected)
        for e in within_a_minute.ledger
        if e.cycle_id.startswith("scalp-missed-")
    ]
    assert ([], [("scalp-missed-20251112-090030", 75)]) == (
        within_a_minute.events("journal_gaps"),
        missed,
    )


@pytest.mark.anyio
async def test_a_day_stopped_before_the_close_is_completed_by_a_run_after_it(
    tmp_path: Path,
) -> None:
    """A journal that stops at 15:01 (its run stopped) is resumed by a run started after
    the close with a plan from the close: every scalp second to 15:29:59 is booked once,
    the final swing cycle at 15:30 is booked missed, and the day is no longer unfinished."""
    from observer.collect._runner import unfinished_day

    root = tmp_path / "archive"
    with anyio.fail_after(100):
        await simulate_slice(
            root, length=dt.timedelta(minutes=1), n_symbols=60, at_time=dt.time(15, 0)
        )
        before = unfinished_day(root, SESSION)
        plan = SchedulePlan.for_session(SESSION, start=SESSION.close)
        await _resume_with_clock_at(root, plan, dt.time(15, 31))
    final = [
        (e.expected, e.failed)
        for e in open_archive(root).ledger()
        if e.cycle_id == "swing-20251112-153000"
    ]
    seconds = _scalp_seconds(root)
    opened = dt.datetime.combine(DAY, dt.time(15, 0), tzinfo=KST)
    every = [opened + dt.timedelta(seconds=k) for k in range(30 * 60)]
    # (the final swing cycle expects the 55 universe symbols and the 5 scalp symbols)
    assert (True, False, [(60, {"missed": 60})], every) == (
        before,
        unfinished_day(root, SESSION),
        final,
        sorted(seconds),
    )
