"""ArchiveWriter: layout, sealing, rolling, sequence checks, locks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from archive import (
    ArchiveLockedError,
    ArchiveWriter,
    Partition,
    RootLock,
    SequenceRegressionError,
    WriterClosedError,
    WriterConfig,
    open_archive,
    verify_segment,
)
from pipeline import ENCODER, Mode, Source
from tests.archive.helpers import (
    DAY,
    FakeClock,
    cycle_ended,
    data_files,
    ledger_entry,
    snapshot,
    snapshots,
    tree_bytes,
    ws_frame,
)
from tests.strategies import ledger_entries, raw_events
from tests.strategies import snapshots as any_snapshots

PART = Partition("snapshots", DAY, "swing", "kis-rest")


def _sequenced(records: list[object]) -> list[object]:
    return [msgspec.structs.replace(r, seq=i) for i, r in enumerate(records, 1)]  # type: ignore[type-var]


def test_partition_path_is_hive_style(tmp_path: Path) -> None:
    """A partition lives under family/date=/mode=/source=."""
    expected = tmp_path / "snapshots" / "date=2026-11-24" / "mode=swing" / "source=kis-rest"
    assert expected == Partition.of(snapshot(1)).dir(tmp_path)


def test_partition_normalizes_enums_to_strings() -> None:
    """A partition built from enum members equals and hashes like one built from strings."""
    from_enums = Partition("snapshots", DAY, Mode.SWING, Source.KIS_REST)
    assert {PART: 1}[from_enums] == 1


def test_open_segment_is_invisible_to_sealed_glob(tmp_path: Path) -> None:
    """While open, a segment ends in .open, so **/*.jsonl.zst sees no half-written data."""
    writer = ArchiveWriter(tmp_path, clock=FakeClock())
    writer.append_many(snapshots(range(1, 4)))
    writer.flush()
    assert (
        list(tmp_path.rglob("*.jsonl.zst")),
        [p.name for p in tmp_path.rglob("*.open")],
    ) == ([], ["part-000000000001.jsonl.zst.open"])
    writer.close()


def test_seal_names_segment_by_first_and_last_seq(tmp_path: Path) -> None:
    """Closing seals part-<first>-<last>.jsonl.zst with its manifest beside it."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(5, 9)))
    names = sorted(p.name for p in PART.dir(tmp_path).iterdir() if p.name != ".lock")
    expected = [
        "part-000000000005-000000000008.jsonl.zst",
        "part-000000000005-000000000008.manifest.json",
    ]
    assert expected == names


def test_manifest_checksum_is_true_after_seal(tmp_path: Path) -> None:
    """verify_segment accepts a freshly sealed segment and its manifest counts every record."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(1, 101)))
        writer.flush()
        writer.append_many(snapshots(range(101, 151)))
    manifest = verify_segment(data_files(tmp_path)[0])
    assert (
        manifest.record_count,
        manifest.first_seq,
        manifest.last_seq,
        manifest.frames,
    ) == (150, 1, 150, 2)


def test_manifest_records_first_and_last_times(tmp_path: Path) -> None:
    """The manifest carries the first and last record's exchange and receive times."""
    records = snapshots(range(1, 11))
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(records)
    manifest = verify_segment(data_files(tmp_path)[0])
    expected = (
        records[0].exchange_time,
        records[-1].exchange_time,
        records[0].receive_time,
        records[-1].receive_time,
    )
    actual = (
        manifest.first_exchange_time,
        manifest.last_exchange_time,
        manifest.first_receive_time,
        manifest.last_receive_time,
    )
    assert expected == actual


def test_each_flush_writes_one_independent_frame(tmp_path: Path) -> None:
    """Three flushes give three zstd frames, each decompressible on its own."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        for start in (1, 11, 21):
            writer.append_many(snapshots(range(start, start + 10)))
            writer.flush()
    data = data_files(tmp_path)[0].read_bytes()
    dobj_lines = []
    rest = data
    while rest:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        dobj_lines.append(dobj.decompress(rest).count(b"\n"))
        rest = dobj.unused_data
    assert dobj_lines == [10, 10, 10]


def test_lines_are_the_deterministic_encoding(tmp_path: Path) -> None:
    """Each line is pipeline.ENCODER's bytes of the record, newline-terminated."""
    records = snapshots(range(1, 4))
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(records)
    text = (
        zstandard.ZstdDecompressor()
        .decompressobj()
        .decompress(data_files(tmp_path)[0].read_bytes())
    )
    assert b"".join(ENCODER.encode(r) + b"\n" for r in records) == text


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "writer-thread"])
def test_flush_interval_cuts_a_frame_on_append(tmp_path: Path, threaded: bool) -> None:
    """A buffer older than flush_interval_s is written when the next record arrives."""
    clock = FakeClock()
    config = WriterConfig(flush_interval_s=1.0, compress_in_thread=threaded)
    writer = ArchiveWriter(tmp_path, config, clock=clock)
    writer.append(snapshot(1))
    clock.advance(1.0)
    writer.append(snapshot(2))
    if threaded:
        writer.sync()  # the frame was cut on append; the writer thread writes it
    assert len(list(open_archive(tmp_path).snapshots())) == 2
    writer.close()


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "writer-thread"])
def test_poll_flushes_a_quiet_partition(tmp_path: Path, threaded: bool) -> None:
    """poll() writes a buffer that has waited flush_interval_s with no further append."""
    clock = FakeClock()
    config = WriterConfig(flush_interval_s=1.0, compress_in_thread=threaded)
    writer = ArchiveWriter(tmp_path, config, clock=clock)
    writer.append(snapshot(1))
    clock.advance(1.5)
    writer.poll()
    if threaded:
        writer.sync()
    assert [s.seq for s in open_archive(tmp_path).snapshots()] == [1]
    writer.close()


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "writer-thread"])
def test_max_frame_bytes_forces_a_frame(tmp_path: Path, threaded: bool) -> None:
    """A buffer past max_frame_bytes is written without waiting for the clock."""
    config = WriterConfig(max_frame_bytes=1, compress_in_thread=threaded)
    writer = ArchiveWriter(tmp_path, config, clock=FakeClock())
    writer.append(snapshot(1))
    if threaded:
        writer.sync()
    assert len(list(open_archive(tmp_path).snapshots())) == 1
    writer.close()


def test_rolls_by_size(tmp_path: Path) -> None:
    """A segment past max_segment_bytes is sealed at its next flush and a new one starts."""
    config = WriterConfig(max_segment_bytes=1)
    with ArchiveWriter(tmp_path, config, clock=FakeClock()) as writer:
        for seq in range(1, 4):
            writer.append(snapshot(seq))
            writer.flush()
    names = [p.name for p in data_files(tmp_path)]
    expected = [f"part-{s:012d}-{s:012d}.jsonl.zst" for s in range(1, 4)]
    assert expected == names


def test_rolls_by_age(tmp_path: Path) -> None:
    """A segment older than max_segment_age_s is sealed by poll()."""
    clock = FakeClock()
    writer = ArchiveWriter(tmp_path, WriterConfig(max_segment_age_s=60), clock=clock)
    writer.append(snapshot(1))
    clock.advance(61)
    writer.poll()
    assert [p.name for p in data_files(tmp_path)] == ["part-000000000001-000000000001.jsonl.zst"]
    writer.close()


def test_rolls_at_trading_day_boundary(tmp_path: Path) -> None:
    """The first record of a new trading day seals the previous day's segment."""
    writer = ArchiveWriter(tmp_path, clock=FakeClock())
    writer.append(snapshot(1))
    writer.append(snapshot(1, day=DAY + dt.timedelta(days=1)))
    sealed = [p.parent.parent.parent.name for p in tmp_path.rglob("*.jsonl.zst")]
    assert sealed == ["date=2026-11-24"]
    writer.close()


def test_refuses_sequence_that_does_not_increase(tmp_path: Path) -> None:
    """A seq equal to the partition's last seq raises SequenceRegressionError."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append(snapshot(5))
        with pytest.raises(SequenceRegressionError, match="seq 5 does not increase"):
            writer.append(snapshot(5))


def test_sequence_check_survives_restart(tmp_path: Path) -> None:
    """A new writer knows the last seq on disk and refuses to go back."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(1, 11)))
    with (
        ArchiveWriter(tmp_path, clock=FakeClock()) as writer,
        pytest.raises(SequenceRegressionError),
    ):
        writer.append(snapshot(10))


def test_last_seq_resumes_from_disk(tmp_path: Path) -> None:
    """last_seq reports the highest seq of the partition across writers."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(1, 43)))
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        assert writer.last_seq(PART) == 42


def test_last_seq_of_empty_partition_is_none(tmp_path: Path) -> None:
    """A partition with no data has no last seq."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        assert writer.last_seq(PART) is None


def test_records_route_to_their_family(tmp_path: Path) -> None:
    """Snapshots, raw events and ledger entries land under their own top-level directory."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append(snapshot(1))
        writer.append(ws_frame(1, "0|H0STCNT0|001|005930^..."))
        writer.append(cycle_ended(2))
        writer.append(ledger_entry(1))
    families = sorted({p.relative_to(tmp_path).parts[0] for p in data_files(tmp_path)})
    assert families == ["ledger", "raw", "snapshots"]


def test_append_rejects_a_non_record(tmp_path: Path) -> None:
    """Something that is not an archive record type is a TypeError, not a write."""
    with ArchiveWriter(tmp_path) as writer, pytest.raises(TypeError, match="not an archive record"):
        writer.append(PART)


def test_closed_writer_refuses_append(tmp_path: Path) -> None:
    """append after close raises WriterClosedError."""
    writer = ArchiveWriter(tmp_path)
    writer.close()
    with pytest.raises(WriterClosedError):
        writer.append(snapshot(1))


def test_second_writer_on_partition_is_refused_with_pid(tmp_path: Path) -> None:
    """A second writer on a held partition gets ArchiveLockedError naming the holder's pid."""
    import os

    first = ArchiveWriter(tmp_path)
    first.append(snapshot(1))
    second = ArchiveWriter(tmp_path)
    with pytest.raises(
        ArchiveLockedError, match=f"partition {PART} is locked by pid {os.getpid()}"
    ):
        second.append(snapshot(2))
    first.close()
    second.close()


def test_partition_lock_is_released_on_close(tmp_path: Path) -> None:
    """After close another writer can take the partition."""
    with ArchiveWriter(tmp_path) as writer:
        writer.append(snapshot(1))
    with ArchiveWriter(tmp_path) as writer:
        writer.append(snapshot(2))
    assert [s.seq for s in open_archive(tmp_path).snapshots()] == [1, 2]


def test_root_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    """RootLock lets one holder in; a second gets ArchiveLockedError."""
    with RootLock(tmp_path), pytest.raises(ArchiveLockedError, match="archive root"):
        RootLock(tmp_path).acquire()


_records = st.one_of(
    any_snapshots(mode=Mode.SWING, source=Source.KIS_REST, trading_day=DAY),
    raw_events(mode=Mode.SCALP, source=Source.KIS_WS),
    ledger_entries(mode=Mode.SWING, source=Source.KIS_REST),
)


def _one_day(records: list[object]) -> list[object]:
    return _sequenced([msgspec.structs.replace(r, trading_day=DAY) for r in records])  # type: ignore[type-var]


@given(st.lists(_records, max_size=30), st.lists(st.booleans(), max_size=30))
def test_round_trip_is_identity(records: list[object], flushes: list[bool]) -> None:
    """Whatever records go in (any flush pattern), the reader gives them back equal, in order."""
    import tempfile

    records = _one_day(records)
    with tempfile.TemporaryDirectory() as tmp:
        with ArchiveWriter(tmp, clock=FakeClock()) as writer:
            for record, flush in zip(records, flushes + [False] * len(records), strict=False):
                writer.append(record)
                if flush:
                    writer.flush()
        reader = open_archive(tmp)
        got = [*reader.snapshots(), *reader.raw(), *reader.ledger()]
    key = lambda r: (type(r).__name__, r.seq)  # noqa: E731
    assert sorted(records, key=key) == sorted(got, key=key)  # type: ignore[arg-type]


@given(st.lists(_records, max_size=30), st.lists(st.booleans(), max_size=30))
def test_same_records_twice_give_identical_bytes(
    records: list[object], flushes: list[bool]
) -> None:
    """The same records and flushes through two fresh writers give byte-identical trees."""
    import tempfile

    records = _one_day(records)
    trees = []
    for _ in range(2):
        with tempfile.TemporaryDirectory() as tmp:
            with ArchiveWriter(tmp, clock=FakeClock()) as writer:
                for record, flush in zip(records, flushes + [False] * len(records), strict=False):
                    writer.append(record)
                    if flush:
                        writer.flush()
            trees.append(tree_bytes(Path(tmp)))
    assert trees[0] == trees[1]


def test_interleaved_partitions_each_get_their_records(tmp_path: Path) -> None:
    """Alternating swing and scalp snapshots land in their own partitions, in order."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        for seq in range(1, 7):
            mode = Mode.SWING if seq % 2 else Mode.SCALP
            writer.append(snapshot(seq, mode=mode))
    reader = open_archive(tmp_path)
    got = {m: [s.seq for s in reader.snapshots(mode=m)] for m in ("swing", "scalp")}
    expected = {"swing": [1, 3, 5], "scalp": [2, 4, 6]}
    assert expected == got


def _on_disk(root: Path) -> tuple[list[int], list[int], list[int]]:
    """Seqs readable from the frames on disk: raw, snapshots, ledger."""
    reader = open_archive(root)
    return (
        [e.seq for e in reader.raw()],
        [s.seq for s in reader.snapshots()],
        [e.seq for e in reader.ledger()],
    )


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "writer-thread"])
def test_a_snapshot_frame_is_cut_after_the_raw_events_buffered_before_it(
    tmp_path: Path, threaded: bool
) -> None:
    """A snapshot frame forced out by size takes the raw buffer out first, so a crash can
    never leave a snapshot on disk without the raw event it came from."""
    big_enough = len(ENCODER.encode(ws_frame(1, "0|H0STCNT0|001|x"))) * 3
    config = WriterConfig(max_frame_bytes=big_enough, compress_in_thread=threaded)
    writer = ArchiveWriter(tmp_path, config, clock=FakeClock())
    writer.append(ws_frame(1, "0|H0STCNT0|001|x"))
    writer.append(msgspec.structs.replace(snapshot(1), cycle_id="x" * big_enough))
    writer.sync()
    assert ([1], [1], []) == _on_disk(tmp_path)
    writer.close()


def test_a_ledger_frame_is_cut_after_the_snapshots_and_raw_events_before_it(
    tmp_path: Path,
) -> None:
    """A ledger frame forced out by size takes raw and snapshot buffers out first, so a
    ledger entry on disk always has its cycle's snapshots there too."""
    big_enough = len(ENCODER.encode(snapshot(1))) * 3
    config = WriterConfig(max_frame_bytes=big_enough)
    writer = ArchiveWriter(tmp_path, config, clock=FakeClock())
    writer.append(ws_frame(1, "0|H0STCNT0|001|x"))
    writer.append(snapshot(1))
    writer.append(msgspec.structs.replace(ledger_entry(2), cycle_id="x" * big_enough))
    writer.sync()
    assert ([1], [1], [2]) == _on_disk(tmp_path)
    writer.close()
