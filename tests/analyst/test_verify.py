"""``observer verify``: segments against manifests, seq continuity, time order, open/torn."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from archive import ArchiveWriter, compact_day
from observer.analyst._verify import verify_archive
from observer.cli import cli
from pipeline import (
    Environment,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    Source,
    WsFrame,
)
from tests.analyst.helpers import copy_tree, cycle_events, sealed


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", *args], catch_exceptions=False)
    return result.exit_code, result.output


def snap(seq: int) -> ObservationSnapshot:
    t = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seq)
    return ObservationSnapshot(
        seq=seq,
        symbol="005930",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=dt.date(2026, 11, 24),
        exchange_time=t,
        receive_time=t,
        cycle_id="c",
        last=70000,
    )


def frame_at(seq: int, second: int, microsecond: int = 0) -> WsFrame:
    return WsFrame(
        seq=seq,
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=dt.date(2026, 11, 24),
        receive_time=dt.datetime(2026, 11, 24, 0, 0, second, microsecond, tzinfo=dt.UTC),
        text="{}",
    )


def test_clean_archive_verifies_with_exit_zero(sample_root: Path) -> None:
    """Every sealed segment of a fresh archive checks out: no finding, exit 0."""
    result = verify_archive(sample_root)
    files = len(
        sealed(sample_root, "snapshots")
        + sealed(sample_root, "raw")
        + sealed(sample_root, "ledger")
    )
    expected = (files, [], 0)
    assert expected == (result.sealed_segments, result.findings, run(str(sample_root))[0])


def test_flipped_byte_fails_naming_the_file(own_root: Path) -> None:
    """One changed byte in a sealed segment: exit 1 and a sha256 problem naming it."""
    target = sealed(own_root)[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    code, output = run(str(own_root))
    expected = (1, True)
    assert expected == (code, f"PROBLEM {target}: sha256/size" in output)


def test_manifest_count_mismatch_is_a_problem(own_root: Path) -> None:
    """A manifest whose record count disagrees with the data is reported."""
    target = sealed(own_root)[0]
    manifest_path = target.with_name(target.name.replace(".jsonl.zst", ".manifest.json"))
    doc = msgspec.json.decode(manifest_path.read_bytes())
    doc["record_count"] += 1
    manifest_path.write_bytes(msgspec.json.encode(doc))
    messages = [f.message for f in verify_archive(own_root).problems]
    expected = [f"{doc['record_count'] - 1} records, manifest says {doc['record_count']}"]
    assert expected == messages


def test_missing_manifest_is_a_problem(own_root: Path) -> None:
    """A sealed data file without its manifest is reported by name."""
    target = sealed(own_root)[0]
    target.with_name(target.name.replace(".jsonl.zst", ".manifest.json")).unlink()
    findings = [(f.path, f.message) for f in verify_archive(own_root).problems]
    assert [(str(target), "sealed segment without a manifest")] == findings


def test_orphan_manifest_is_a_problem(own_root: Path) -> None:
    """A manifest whose data file is gone is reported."""
    target = sealed(own_root)[0]
    target.unlink()
    manifest = target.with_name(target.name.replace(".jsonl.zst", ".manifest.json"))
    findings = [(f.path, f.message) for f in verify_archive(own_root).problems]
    assert [(str(manifest), "manifest without its data file")] == findings


def test_seq_hole_between_segments_is_a_problem(tmp_path: Path) -> None:
    """Snapshot seqs 1..3 then 6..7: two seqs missing between the segments."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([snap(1), snap(2), snap(3)])
        writer.seal()
        writer.append_many([snap(6), snap(7)])
    messages = [f.message for f in verify_archive(tmp_path).problems]
    expected = [
        "2 seq(s) missing between part-000000000001-000000000003.jsonl.zst and this segment (4..5)"
    ]
    assert expected == messages


def test_raw_receive_time_far_backwards_is_a_problem(tmp_path: Path) -> None:
    """A raw journal whose receive time steps back more than max_skew is out of order."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([frame_at(1, 5), frame_at(2, 3)])
    (finding,) = verify_archive(tmp_path, max_skew=dt.timedelta(seconds=1)).problems
    assert finding.message.startswith("receive_time goes backwards 1 time(s), at most by 2.000 s")


def test_small_journal_skew_is_a_note(tmp_path: Path) -> None:
    """A step back within max_skew (stamped, then journaled late) is a note, exit 0."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([frame_at(1, 5), frame_at(2, 3)])
    result = verify_archive(tmp_path)
    expected = ([], True)
    assert expected == (result.problems, result.notes[0].message.startswith("receive_time"))


@pytest.mark.parametrize(
    ("back_us", "shown"), [(316, "316 µs"), (3_120, "3.12 ms"), (45_600, "45.6 ms")]
)
def test_journal_skew_note_gives_the_step_at_its_scale(
    tmp_path: Path, back_us: int, shown: str
) -> None:
    """A sub-second step back reads in ms or µs, not as ``0.000 s``."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([frame_at(1, 5, back_us), frame_at(2, 5)])
    (note,) = verify_archive(tmp_path).notes
    assert f"goes backwards 1 time(s), at most by {shown} (" in note.message, note.message


def test_open_segment_of_live_writer_is_a_note_not_a_problem(tmp_path: Path) -> None:
    """An open segment is reported with its records and its live writer; exit stays 0."""
    writer = ArchiveWriter(tmp_path, clock=lambda: 0.0)
    try:
        writer.append_many([snap(1), snap(2)])
        writer.flush()
        code, output = run(str(tmp_path))
    finally:
        writer.close()
    expected = (0, True)
    assert expected == (
        code,
        "open segment: 2 records in complete frames; held by a live" in output,
    )


def test_torn_open_segment_reports_its_torn_bytes(tmp_path: Path) -> None:
    """An open segment cut mid-frame (a crash) is reported with the torn byte count."""
    crash = tmp_path / "crash"
    with ArchiveWriter(tmp_path / "live", clock=lambda: 0.0) as writer:
        writer.append_many([snap(1), snap(2)])
        writer.flush()
        writer.append(snap(3))
        writer.flush()
        shutil.copytree(tmp_path / "live", crash)  # the disk as a crash would leave it
    (open_file,) = sorted(crash.rglob("*.open"))
    open_file.write_bytes(open_file.read_bytes()[:-5])
    (note,) = [f.message for f in verify_archive(crash).notes]
    assert note.startswith("open segment: 2 records in complete frames, ")


def test_json_output_lists_problems(own_root: Path) -> None:
    """--json gives ok=false and the problem's path for a damaged archive."""
    target = sealed(own_root)[0]
    target.write_bytes(target.read_bytes()[:-1])
    code, output = run(str(own_root), "--json")
    doc = msgspec.json.decode(output)
    expected = (1, False, [str(target)])
    assert expected == (code, doc["ok"], [p["path"] for p in doc["problems"]])


def _three_segments(root: Path) -> list[Path]:
    """Snapshot seqs 1..2, 3..4, 5..6 in three sealed segments; their data files."""
    with ArchiveWriter(root, clock=lambda: 0.0) as writer:
        for first in (1, 3, 5):
            writer.append_many([snap(first), snap(first + 1)])
            writer.seal()
    return sealed(root)


def test_a_missing_manifest_claims_no_missing_seqs_after_it(tmp_path: Path) -> None:
    """The segment after one without a manifest is not said to miss that one's seqs."""
    middle = _three_segments(tmp_path)[1]
    middle.with_name(middle.name.replace(".jsonl.zst", ".manifest.json")).unlink()
    findings = [(f.path, f.message) for f in verify_archive(tmp_path).problems]
    assert [(str(middle), "sealed segment without a manifest")] == findings


def test_two_data_files_starting_at_one_seq_are_a_problem(tmp_path: Path) -> None:
    """A second data file with a segment's first seq (readers read both) is named."""
    first = _three_segments(tmp_path)[0]
    copy = first.with_name("part-000000000001.jsonl.zst.open")
    shutil.copyfile(first, copy)
    findings = [(f.path, f.message.split(":")[0]) for f in verify_archive(tmp_path).problems]
    assert [(str(copy), f"starts at seq 1 like {first.name}")] == findings


def test_an_unlistable_partition_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """A partition directory that cannot be listed is reported by name."""
    directory = _three_segments(tmp_path)[0].parent
    real = Path.iterdir

    def refuse(self: Path) -> object:
        if self == directory:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "iterdir", refuse)
        findings = [(f.path, f.message) for f in verify_archive(tmp_path).problems]
    assert [(str(directory), "cannot list partition: Permission denied")] == findings


def test_a_hidden_file_is_not_called_a_temporary_one(tmp_path: Path) -> None:
    """A .DS_Store in a partition is a note that names it as foreign, not an interrupted write."""
    directory = _three_segments(tmp_path)[0].parent
    (directory / ".DS_Store").write_bytes(b"\0")
    notes = [f.message for f in verify_archive(tmp_path).notes if ".DS_Store" in f.path]
    assert ["hidden file: not part of the archive"] == notes


def _frame(seq: int, mode: Mode, source: Source) -> WsFrame:
    return WsFrame(
        seq=seq,
        mode=mode,
        source=source,
        environment=Environment.SIM,
        trading_day=dt.date(2026, 11, 24),
        receive_time=dt.datetime(2026, 11, 24, 0, 0, seq, tzinfo=dt.UTC),
        text="0|H0STCNT0|001|x",
    )


def test_a_seq_missing_from_every_raw_partition_is_a_problem(tmp_path: Path) -> None:
    """One counter numbers a day's raw events across partitions: seq 4 in none of them is
    an event lost before the disk, named with the day's journal."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([_frame(s, Mode.SCALP, Source.KIS_WS) for s in (1, 2, 5, 6)])
        writer.append_many([_frame(s, Mode.SWING, Source.KIS_REST) for s in (3, 7)])
    findings = [(f.path, f.message.split(":")[0]) for f in verify_archive(tmp_path).problems]
    expected = [
        (
            str(tmp_path / "raw" / "date=2026-11-24"),
            "the journal misses 1 seq(s) of its numbering (4)",
        )
    ]
    assert expected == findings


def test_a_seq_a_torn_tail_entry_took_is_no_hole_in_the_journal(tmp_path: Path) -> None:
    """Recovery's torn-tail ledger entry takes a seq the resumed journal numbers past."""
    entry = LedgerEntry(
        seq=3,
        cycle_id="recovery:snapshots/x/part-000000000001.jsonl.zst.open",
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=dt.date(2026, 11, 24),
        started_at=dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC),
        ended_at=dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC),
        expected=1,
        failed={"torn_tail": 1},
    )
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([_frame(s, Mode.SCALP, Source.KIS_WS) for s in (1, 2, 4)])
        writer.append(entry)
    assert [] == verify_archive(tmp_path).problems


def test_a_cycle_a_crash_left_unbooked_is_a_problem(tmp_path: Path) -> None:
    """A cycle the journal started and never ended, with no ledger entry (a crashed day never
    resumed), is loss in no bucket: a problem naming the cycle and what it expected."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many(cycle_events(ended=False))
    findings = [(f.path, f.message[:89]) for f in verify_archive(tmp_path).problems]
    expected = [
        (
            str(tmp_path / "raw" / "date=2026-11-24" / "mode=scalp" / "source=kis-ws"),
            "the journal started 1 cycle(s) (scalp-20261124-090100; 2 expected observations) "
            "and never",
        )
    ]
    assert expected == findings


def test_a_cycle_ended_without_a_ledger_entry_is_a_problem(tmp_path: Path) -> None:
    """A cycle the journal ended whose ledger entry is not in the archive is a problem."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many(cycle_events(ended=True))
    messages = [f.message for f in verify_archive(tmp_path).problems]
    expected = [
        "the journal ended 1 cycle(s) (scalp-20261124-090100; 2 expected observations), and "
        "no ledger entry books them: their accounting is missing from the archive"
    ]
    assert expected == messages


def test_an_unended_cycle_of_a_live_writer_is_no_problem(tmp_path: Path) -> None:
    """A day a live writer still writes has its current cycle under way: not flagged."""
    writer = ArchiveWriter(tmp_path, clock=lambda: 0.0)
    try:
        writer.append_many(cycle_events(ended=False))
        writer.flush()
        problems = verify_archive(tmp_path).problems
    finally:
        writer.close()
    assert [] == problems


def _delete_segment(data: Path) -> None:
    """Remove a sealed segment and its manifest, as a careless clean-up would."""
    data.with_name(data.name.replace(".jsonl.zst", ".manifest.json")).unlink()
    data.unlink()


def test_a_deleted_first_snapshot_segment_is_a_problem(tmp_path: Path) -> None:
    """A snapshot partition starting at seq 3 lost seqs 1..2, and no recovery booked them."""
    segments = _three_segments(tmp_path)
    _delete_segment(segments[0])
    findings = [(f.path, f.message) for f in verify_archive(tmp_path).problems]
    expected = [
        (
            str(segments[1]),
            "the partition's first readable seq is 3, not 1: seqs 1..2 are missing (a segment "
            "deleted or lost), and no ledger entry books them",
        )
    ]
    assert expected == findings


def _ledger_entry(archived: int) -> LedgerEntry:
    at = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC)
    return LedgerEntry(
        seq=1,
        cycle_id="c",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=dt.date(2026, 11, 24),
        started_at=at,
        ended_at=at,
        expected=archived,
        received=archived,
        archived=archived,
    )


def test_a_deleted_last_snapshot_segment_is_a_problem(tmp_path: Path) -> None:
    """The ledger says cycle c archived 6 snapshots; its last segment gone, 4 are left."""
    segments = _three_segments(tmp_path)
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append(_ledger_entry(6))
    _delete_segment(segments[2])
    findings = [(f.path, f.message) for f in verify_archive(tmp_path).problems]
    expected = [
        (
            str(segments[0].parent),
            "1 cycle(s) (c: 6 archived, 4 found): fewer snapshots in the archive than the "
            "ledger says it archived (a snapshot segment deleted or lost)",
        )
    ]
    assert expected == findings


def test_an_unreadable_raw_segment_is_not_blamed_on_the_journal(tmp_path: Path) -> None:
    """A raw segment without its manifest is that segment's problem alone: the journal's
    numbering is not checked (its seqs are unknown), and a note says so."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([_frame(s, Mode.SCALP, Source.KIS_WS) for s in (1, 2, 4)])
        writer.append_many([_frame(s, Mode.SWING, Source.KIS_REST) for s in (3, 5)])
    (data,) = sealed(tmp_path / "raw" / "date=2026-11-24" / "mode=swing", ".")
    data.with_name(data.name.replace(".jsonl.zst", ".manifest.json")).unlink()
    result = verify_archive(tmp_path)
    expected = (
        [(str(data), "sealed segment without a manifest")],
        [str(tmp_path / "raw" / "date=2026-11-24")],
    )
    assert expected == (
        [(f.path, f.message) for f in result.problems],
        [f.path for f in result.notes if "numbering not checked" in f.message],
    )


def test_snapshots_a_crash_tore_from_an_open_segment_name_the_crash(tmp_path: Path) -> None:
    """The ledger says 3 archived, a crash tore the last of them off an open segment: the
    shortfall names the crash and the resume that restores it, not a deleted segment."""
    crash = tmp_path / "crash"
    with ArchiveWriter(tmp_path / "live", clock=lambda: 0.0) as writer:
        writer.append_many([snap(1), snap(2)])
        writer.flush()
        writer.append(snap(3))
        writer.append(_ledger_entry(3))
        writer.flush()
        copy_tree(tmp_path / "live", crash)  # the disk as a crash would leave it, unlocked
    (open_file,) = sorted((crash / "snapshots").rglob("*.open"))
    open_file.write_bytes(open_file.read_bytes()[:-5])
    (problem,) = [f.message for f in verify_archive(crash).problems]
    expected = (
        "1 cycle(s) (c: 3 archived, 2 found): fewer snapshots in the archive than the ledger "
        "says it archived: a crash left open segments that day, their tails cut (`observer "
        "run` on 2026-11-24 recovers them and restores from the journal what they lost)"
    )
    assert expected == problem


def test_a_compaction_cut_between_its_renames_says_how_to_finish_it(own_root: Path) -> None:
    """The manifest is new and the data old: the problem names the command that finishes it."""
    target = sealed(own_root)[0]
    day = target.parent.parent.parent.name.removeprefix("date=")
    before = target.read_bytes()
    compact_day(own_root, dt.date.fromisoformat(day))
    target.with_name(f".{target.name}.compact.tmp").write_bytes(target.read_bytes())
    target.write_bytes(before)
    (finding,) = verify_archive(own_root).problems
    expected = (str(target), f"run `observer compact {own_root} --date {day}` to finish it")
    assert expected == (finding.path, finding.message[-len(expected[1]) :])
