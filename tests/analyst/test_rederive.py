"""``rederive``: re-project the raw journal, write it, compare byte for byte with the archive.

The comparison is tested with a tiny stand-in projection (a WebSocket frame carries one
snapshot's JSON; a cycle end becomes a ledger entry), written the way the live collector
writes: journal first, then what the projection made of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from archive import ArchiveWriter, open_archive
from observer.analyst import AnalystError
from observer.analyst._rederive import rederive
from observer.analyst._verify import verify_archive
from observer.cli import cli
from pipeline import (
    SNAPSHOT_DECODER,
    CycleEnded,
    Environment,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    RawEvent,
    Source,
    WsFrame,
    encode,
)
from tests.analyst.helpers import DAY1, DAY2

Record = ObservationSnapshot | LedgerEntry


def quote(n: int, day: dt.date) -> ObservationSnapshot:
    t = dt.datetime.combine(day, dt.time(0, 0), dt.UTC) + dt.timedelta(seconds=n)
    return ObservationSnapshot(
        symbol=f"{n % 3:06d}",
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=day,
        exchange_time=t,
        receive_time=t,
        cycle_id="c",
        last=70_000 + n * 100,
    )


def journal(day: dt.date, frames: int = 6) -> list[RawEvent]:
    """``frames`` quote frames, then one cycle end, numbered 1, 2, …"""
    out: list[RawEvent] = []
    for n in range(1, frames + 1):
        snap = quote(n, day)
        out.append(
            WsFrame(
                seq=n,
                mode=Mode.SCALP,
                source=Source.KIS_WS,
                environment=Environment.SIM,
                trading_day=day,
                receive_time=snap.receive_time,
                text=encode(snap).decode(),
            )
        )
    end = dt.datetime.combine(day, dt.time(0, 1), dt.UTC)
    out.append(
        CycleEnded(
            seq=frames + 1,
            mode=Mode.SCALP,
            source=Source.KIS_WS,
            environment=Environment.SIM,
            trading_day=day,
            receive_time=end,
            cycle_id="c",
        )
    )
    return out


def toy_projection(events: Iterable[RawEvent]) -> Iterator[Record]:
    """Frame → its snapshot numbered 1, 2, …; cycle end → a ledger entry of the count."""
    count = 0
    for event in events:
        if isinstance(event, WsFrame):
            count += 1
            yield msgspec.structs.replace(SNAPSHOT_DECODER.decode(event.text), seq=count)
        elif isinstance(event, CycleEnded):
            yield LedgerEntry(
                seq=event.seq,
                cycle_id=event.cycle_id,
                mode=event.mode,
                source=event.source,
                environment=event.environment,
                trading_day=event.trading_day,
                started_at=event.receive_time,
                ended_at=event.receive_time,
                expected=count,
                received=count,
                archived=count,
            )


def live_archive(root: Path, days: Iterable[dt.date]) -> Path:
    with ArchiveWriter(root, clock=lambda: 0.0) as writer:
        for day in days:
            events = journal(day)
            for event, records in zip(events, _per_event(events), strict=True):
                writer.append(event)
                writer.append_many(records)
    return root


def _per_event(events: list[RawEvent]) -> list[list[Record]]:
    """What the toy projection emits after each event (a live collector's view)."""
    out: list[list[Record]] = []
    made = list(toy_projection(events))
    snaps = iter([r for r in made if isinstance(r, ObservationSnapshot)])
    ledger = iter([r for r in made if isinstance(r, LedgerEntry)])
    for event in events:
        out.append([next(snaps)] if isinstance(event, WsFrame) else [next(ledger)])
    return out


def test_untouched_archive_rederives_identically(tmp_path: Path) -> None:
    """Journal projected again gives the archive's snapshots and ledger, byte for byte."""
    root = live_archive(tmp_path / "a", [DAY1, DAY2])
    result = rederive(root, project=toy_projection)
    expected = (
        True,
        [],
        {
            "snapshots/date=2026-11-24/mode=scalp/source=kis-ws": 6,
            "snapshots/date=2026-11-25/mode=scalp/source=kis-ws": 6,
            "ledger/date=2026-11-24/mode=scalp/source=kis-ws": 1,
            "ledger/date=2026-11-25/mode=scalp/source=kis-ws": 1,
        },
    )
    assert expected == (result.identical, result.differences, result.compared)


def test_a_changed_value_is_the_first_difference_with_its_field(tmp_path: Path) -> None:
    """A projection that prices record 3 differently: that record and field are named."""
    root = live_archive(tmp_path / "a", [DAY1])

    def off_by_one(events: Iterable[RawEvent]) -> Iterator[Record]:
        for record in toy_projection(events):
            if isinstance(record, ObservationSnapshot) and record.seq == 3:
                record = msgspec.structs.replace(record, last=(record.last or 0) + 1)
            yield record

    (difference,) = rederive(root, project=off_by_one).differences
    expected = (
        "snapshots/date=2026-11-24/mode=scalp/source=kis-ws",
        3,
        1,
        (("$.last", 70_300, 70_301),),
    )
    assert expected == (
        difference.partition,
        difference.record,
        difference.count,
        difference.fields,
    )


def test_a_missing_derived_record_is_reported(tmp_path: Path) -> None:
    """The archive holding one more snapshot than the projection makes is a difference."""
    root = live_archive(tmp_path / "a", [DAY1])

    def drops_last(events: Iterable[RawEvent]) -> Iterator[Record]:
        for record in toy_projection(events):
            if not (isinstance(record, ObservationSnapshot) and record.seq == 6):
                yield record

    (difference,) = rederive(root, project=drops_last).differences
    expected = (6, True, None)
    assert expected == (difference.record, difference.archived is not None, difference.derived)


def test_output_root_is_a_complete_verifiable_archive(tmp_path: Path) -> None:
    """--output keeps raw, snapshots and ledger; it verifies and replays like the original."""
    root = live_archive(tmp_path / "a", [DAY1])
    out = tmp_path / "b"
    rederive(root, project=toy_projection, output=out)
    expected = ([], list(open_archive(root).snapshots()), list(open_archive(root).raw()))
    assert expected == (
        verify_archive(out).problems,
        list(open_archive(out).snapshots()),
        list(open_archive(out).raw()),
    )


def test_output_must_be_new(tmp_path: Path) -> None:
    """Re-deriving into a directory that holds files is refused."""
    root = live_archive(tmp_path / "a", [DAY1])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("x")
    with pytest.raises(AnalystError, match="must be a new or empty directory"):
        rederive(root, project=toy_projection, output=tmp_path / "b")


def test_cli_exits_1_and_shows_the_first_difference(tmp_path: Path) -> None:
    """observer rederive on an archive whose journal does not produce it: exit 1, first diff."""
    root = tmp_path / "a"
    with ArchiveWriter(root, clock=lambda: 0.0) as writer:
        writer.append_many(journal(DAY1))  # a journal with frames the real converters reject
        writer.append(quote(1, DAY1))
    result = CliRunner().invoke(cli, ["rederive", str(root)], catch_exceptions=False)
    expected = (1, True)
    assert expected == (
        result.exit_code,
        "DIFFERENCE snapshots/date=2026-11-24/mode=scalp/source=kis-ws: record 1" in result.stdout,
    )


def test_records_lost_to_a_torn_tail_are_a_difference_with_a_note(tmp_path: Path) -> None:
    """After a crash cut the snapshot tail, the journal still projects them: named as such."""
    live, crash = tmp_path / "live", tmp_path / "crash"
    events = journal(DAY1)
    with ArchiveWriter(live, clock=lambda: 0.0) as writer:
        for event, records in zip(events, _per_event(events), strict=True):
            writer.append(event)
            writer.append_many(records)
            writer.flush()  # a frame per event, as a collector's timer would cut them
        shutil.copytree(live, crash, ignore=shutil.ignore_patterns(".lock"))
    (torn,) = [p for p in crash.rglob("*.open") if p.parts[-5] == "snapshots"]
    torn.write_bytes(torn.read_bytes()[:-3])
    ArchiveWriter(crash, clock=lambda: 0.0).close()  # recovery seals what is whole
    (difference,) = rederive(crash, project=toy_projection).differences
    expected = (6, None, True)
    assert expected == (
        difference.record,
        difference.archived,
        difference.note.startswith("recovery cut 1 torn tail(s) here"),
    )


@dataclasses.dataclass(frozen=True)
class WhereProjected:
    """``toy_projection``, noting the process that ran it in ``log`` (it pickles, so it can
    run in a worker); record 3 of ``day`` priced one higher when ``skew_day`` is it."""

    log: Path
    skew_day: dt.date | None = None

    def __call__(self, events: Iterable[RawEvent]) -> Iterator[Record]:
        with self.log.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        for record in toy_projection(events):
            skewed = record.trading_day == self.skew_day and record.seq == 3
            if skewed and isinstance(record, ObservationSnapshot):
                record = msgspec.structs.replace(record, last=(record.last or 0) + 1)
            yield record


@pytest.mark.parametrize("skew_day", [None, DAY2])
def test_days_derived_in_worker_processes_give_the_same_result(
    tmp_path: Path, skew_day: dt.date | None
) -> None:
    """With ``jobs=2`` each day is projected in a worker process (not this one), and the
    result (every partition compared, in the same order, and each first difference) is
    the one of deriving the days here one after the other."""
    root = live_archive(tmp_path / "a", [DAY1, DAY2])
    results, pids = [], []
    for jobs in (1, 2):
        log = tmp_path / f"pids-{jobs}"
        result = rederive(root, project=WhereProjected(log, skew_day), jobs=jobs)
        results.append((list(result.compared.items()), result.differences, result.raw_events))
        pids.append({int(pid) for pid in log.read_text().split()})
    assert (results[0], {os.getpid()}, 2, False) == (
        results[1],
        pids[0],
        len(pids[1]),
        os.getpid() in pids[1],
    )
    assert (skew_day is not None) == bool(results[0][1])


def test_jobs_below_one_are_refused(tmp_path: Path) -> None:
    """``jobs=0`` is a clear error, not a silent serial run (the CLI refuses it too)."""
    root = live_archive(tmp_path / "a", [DAY1])
    cli_run = CliRunner().invoke(cli, ["rederive", str(root), "--jobs", "0"])
    with pytest.raises(AnalystError, match="jobs must be at least 1"):
        rederive(root, project=toy_projection, jobs=0)
    assert (2, True) == (cli_run.exit_code, "--jobs" in cli_run.output)


def test_a_day_a_live_writer_still_writes_is_skipped(tmp_path: Path) -> None:
    """Journal ahead of its snapshots while the writer runs is no difference: the day is
    skipped and named with the writer's pid."""
    events = journal(DAY1)
    writer = ArchiveWriter(tmp_path, clock=lambda: 0.0)
    try:
        writer.append_many(events[:4])
        writer.append_many(list(toy_projection(events[:4]))[:2])  # two still on their way
        writer.flush()
        result = rederive(tmp_path, project=toy_projection)
    finally:
        writer.close()
    expected = ({DAY1: os.getpid()}, [], [])
    assert expected == (result.live_days, result.differences, result.days)
