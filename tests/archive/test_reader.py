"""ArchiveReader: filters, open segments, damage, schema versions."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from archive import (
    ArchiveFormatError,
    ArchiveIOError,
    ArchiveWriter,
    CorruptFrameError,
    CorruptRecordError,
    ManifestMismatchError,
    UnknownSchemaVersionError,
    compact_day,
    open_archive,
    query_snapshots,
)
from archive._manifest import read_manifest
from pipeline import ENCODER, SNAPSHOT_SCHEMA_VERSION, Mode, ObservationSnapshot, Source
from tests.archive.helpers import (
    DAY,
    FakeClock,
    claim_huge_block,
    cycle_ended,
    data_files,
    ledger_entry,
    restate_manifest,
    snapshot,
    snapshots,
    ws_frame,
)
from tests.strategies import snapshots as any_snapshots

NEXT_DAY = DAY + dt.timedelta(days=1)


def _write(root: Path, *batches: list[object]) -> None:
    """Write each batch as its own frame, then seal."""
    with ArchiveWriter(root, clock=FakeClock()) as writer:
        for batch in batches:
            writer.append_many(batch)
            writer.flush()


def _frame_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        dobj = zstandard.ZstdDecompressor().decompressobj()
        dobj.decompress(data[pos:])
        pos = len(data) - len(dobj.unused_data)
    return offsets


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_filters_by_symbol(tmp_path: Path) -> None:
    """symbols= keeps only snapshots of those symbols."""
    _write(tmp_path, snapshots(range(1, 50)))
    got = {s.symbol for s in open_archive(tmp_path).snapshots(symbols={"000003"})}
    assert {"000003"} == got


def _rewrite_lines(path: Path, rewrite: Callable[[dict[str, Any]], str]) -> None:
    """Rewrite a sealed segment's records as another JSON writer would, manifest restated."""
    text = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    lines = [rewrite(json.loads(line)) + "\n" for line in text.decode().splitlines()]
    path.write_bytes(zstandard.ZstdCompressor().compress("".join(lines).encode()))
    restate_manifest(path)


def _escaped(record: dict[str, Any]) -> str:
    symbol = "".join(f"\\u{ord(c):04x}" for c in record.pop("symbol"))
    return json.dumps(record)[:-1] + f', "symbol": "{symbol}"}}'


def _by_reader(root: Path, symbol: str) -> list[int]:
    return [s.seq for s in open_archive(root).snapshots(symbols={symbol})]


def _by_query(root: Path, symbol: str) -> list[int]:
    return [s.seq for s in query_snapshots(root, symbols=[symbol])]


@pytest.mark.parametrize("read", [_by_reader, _by_query], ids=["reader", "query"])
@pytest.mark.parametrize("rewrite", [json.dumps, _escaped], ids=["spaced", "escaped"])
def test_symbol_filter_keeps_lines_of_another_json_writer(
    tmp_path: Path,
    rewrite: Callable[[dict[str, Any]], str],
    read: Callable[[Path, str], list[int]],
) -> None:
    """A symbol filter finds lines spelled as other writers do (spaces, escapes), not just ours."""
    _write(tmp_path, snapshots(range(1, 50)))
    (segment,) = data_files(tmp_path)
    _rewrite_lines(segment, rewrite)
    assert [3, 10, 17, 24, 31, 38, 45] == read(tmp_path, "000003")


def test_filters_by_date(tmp_path: Path) -> None:
    """dates= reads only the partitions of those trading days."""
    _write(tmp_path, snapshots(range(1, 5)), snapshots(range(1, 3), day=NEXT_DAY))
    got = [s.seq for s in open_archive(tmp_path).snapshots(dates=[NEXT_DAY])]
    assert got == [1, 2]


def test_filters_by_mode_and_source(tmp_path: Path) -> None:
    """mode= and source= select one partition."""
    _write(
        tmp_path,
        snapshots(range(1, 4)),
        snapshots(range(1, 3), mode=Mode.SCALP, source=Source.KIS_WS),
    )
    got = [s.seq for s in open_archive(tmp_path).snapshots(mode="scalp", source=Source.KIS_WS)]
    assert got == [1, 2]


def test_filters_by_exchange_window(tmp_path: Path) -> None:
    """exchange_window is half-open [start, end)."""
    records = snapshots(range(1, 11))
    _write(tmp_path, records)
    window = (records[2].exchange_time, records[5].exchange_time)
    got = [s.seq for s in open_archive(tmp_path).snapshots(exchange_window=window)]
    assert got == [3, 4, 5]


def test_filters_by_receive_window(tmp_path: Path) -> None:
    """receive_window compares receive times, whatever their timezone."""
    records = snapshots(range(1, 11))
    _write(tmp_path, records)
    start = records[7].receive_time.astimezone(dt.timezone(dt.timedelta(hours=9)))
    got = [s.seq for s in open_archive(tmp_path).snapshots(receive_window=(start, None))]
    assert got == [8, 9, 10]


def test_naive_window_is_refused(tmp_path: Path) -> None:
    """A window bound without a timezone is a ValueError, not a silent mis-compare."""
    _write(tmp_path, snapshots(range(1, 3)))
    with pytest.raises(ValueError, match="timezone-aware"):
        list(open_archive(tmp_path).snapshots(exchange_window=(dt.datetime(2026, 1, 1), None)))


def test_raw_symbol_filter_keeps_events_naming_the_symbol(tmp_path: Path) -> None:
    """A raw symbol filter keeps WS frames whose text names the symbol."""
    _write(
        tmp_path, [ws_frame(1, "0|H0STCNT0|001|005930^1"), ws_frame(2, "0|H0STCNT0|001|000660^1")]
    )
    got = [e.seq for e in open_archive(tmp_path).raw(symbols={"005930"})]
    assert got == [1]


def test_reads_raw_union_members(tmp_path: Path) -> None:
    """Raw partitions decode to their tagged union members."""
    records = [ws_frame(1, "x"), cycle_ended(2)]
    _write(tmp_path, records)
    assert records == list(open_archive(tmp_path).raw())


def test_reads_ledger(tmp_path: Path) -> None:
    """Ledger partitions decode to LedgerEntry."""
    records = [ledger_entry(1), ledger_entry(2)]
    _write(tmp_path, records)
    assert records == list(open_archive(tmp_path).ledger())


def test_reads_open_segment_up_to_last_complete_frame(tmp_path: Path) -> None:
    """A half-written last frame of an open segment is not read and is counted as tail."""
    writer = ArchiveWriter(tmp_path, clock=FakeClock())
    writer.append_many(snapshots(range(1, 6)))
    writer.flush()
    path = data_files(tmp_path)[0]
    size = path.stat().st_size
    writer.append_many(snapshots(range(6, 11)))
    writer.flush()
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 3)
    reader = open_archive(tmp_path)
    got = [s.seq for s in reader.snapshots()]
    assert ([1, 2, 3, 4, 5], path.stat().st_size - size) == (got, reader.report.open_tail_bytes)
    writer.close()


def test_corrupt_frame_names_file_and_offset(tmp_path: Path) -> None:
    """A damaged frame raises CorruptFrameError with the file and the frame's byte offset."""
    _write(tmp_path, snapshots(range(1, 6)), snapshots(range(6, 11)))
    path = data_files(tmp_path)[0]
    second = _frame_offsets(path)[1]
    _flip_byte(path, path.stat().st_size - 2)  # inside the second frame's checksum
    with pytest.raises(CorruptFrameError) as info:
        list(open_archive(tmp_path).snapshots())
    assert (str(path), second) == (info.value.path, info.value.offset)


def test_skip_corrupt_skips_the_frame_and_reports_it(tmp_path: Path) -> None:
    """With skip_corrupt the damaged frame is skipped and the frames around it are read."""
    _write(tmp_path, snapshots(range(1, 4)), snapshots(range(4, 7)), snapshots(range(7, 10)))
    path = data_files(tmp_path)[0]
    offsets = _frame_offsets(path)
    _flip_byte(path, offsets[2] - 2)  # the middle frame's checksum
    reader = open_archive(tmp_path, skip_corrupt=True)
    got = [s.seq for s in reader.snapshots()]
    assert ([1, 2, 3, 7, 8, 9], [offsets[1]]) == (got, [c.offset for c in reader.report.corrupt])


def test_skip_corrupt_resynchronises_after_damaged_header(tmp_path: Path) -> None:
    """A destroyed frame magic is skipped up to the next frame."""
    _write(tmp_path, snapshots(range(1, 4)), snapshots(range(4, 7)), snapshots(range(7, 10)))
    path = data_files(tmp_path)[0]
    offsets = _frame_offsets(path)
    _flip_byte(path, offsets[1])
    reader = open_archive(tmp_path, skip_corrupt=True)
    got = [s.seq for s in reader.snapshots()]
    assert ([1, 2, 3, 7, 8, 9], [(offsets[1], offsets[2] - offsets[1])]) == (
        got,
        [(c.offset, c.length) for c in reader.report.corrupt],
    )


def test_truncated_sealed_segment_is_an_error(tmp_path: Path) -> None:
    """A sealed segment cut short raises CorruptFrameError (sealed data is never torn)."""
    _write(tmp_path, snapshots(range(1, 6)))
    path = data_files(tmp_path)[0]
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 1)
    with pytest.raises(CorruptFrameError, match="the segment was cut short"):
        list(open_archive(tmp_path).snapshots())


def _write_lines(root: Path, lines: list[bytes]) -> Path:
    """Write a sealed segment holding exactly these lines (one frame)."""
    _write(root, snapshots(range(1, 2)))
    path = data_files(root)[0]
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(b"".join(lines)))
    restate_manifest(path)
    return path


def test_newer_schema_version_is_a_clear_error(tmp_path: Path) -> None:
    """A record from a newer schema raises UnknownSchemaVersionError naming file and line."""
    future = ENCODER.encode(snapshot(2)).replace(
        b'"schema_version":1', f'"schema_version":{SNAPSHOT_SCHEMA_VERSION + 1}'.encode()
    )
    path = _write_lines(tmp_path, [ENCODER.encode(snapshot(1)) + b"\n", future + b"\n"])
    with pytest.raises(UnknownSchemaVersionError) as info:
        list(open_archive(tmp_path).snapshots())
    assert (str(path), 2, SNAPSHOT_SCHEMA_VERSION + 1) == (
        info.value.path,
        info.value.line,
        info.value.version,
    )


def test_newer_schema_version_is_an_error_even_when_it_does_not_decode(tmp_path: Path) -> None:
    """A future record whose fields changed type still reports the version, not corruption."""
    line = b'{"schema_version":99,"seq":"one"}\n'
    _write_lines(tmp_path, [line])
    with pytest.raises(UnknownSchemaVersionError, match="schema version 99"):
        list(open_archive(tmp_path).snapshots())


def test_undecodable_line_is_a_corrupt_record(tmp_path: Path) -> None:
    """A line that is not a snapshot raises CorruptRecordError naming the line."""
    _write_lines(tmp_path, [ENCODER.encode(snapshot(1)) + b"\n", b"{not json\n"])
    with pytest.raises(CorruptRecordError, match="line 2"):
        list(open_archive(tmp_path).snapshots())


def test_skip_corrupt_skips_an_undecodable_line(tmp_path: Path) -> None:
    """With skip_corrupt a bad line is skipped, reported, and its neighbours read."""
    good = [ENCODER.encode(snapshot(s)) + b"\n" for s in (1, 3)]
    _write_lines(tmp_path, [good[0], b"{not json\n", good[1]])
    reader = open_archive(tmp_path, skip_corrupt=True)
    got = [s.seq for s in reader.snapshots()]
    assert (got, [c.line for c in reader.report.corrupt]) == ([1, 3], [2])


def test_glob_readers_see_sealed_data(tmp_path: Path) -> None:
    """DuckDB reads the sealed segments with a plain glob and Hive partitioning."""
    duckdb = pytest.importorskip("duckdb")
    _write(tmp_path, snapshots(range(1, 21)))
    pattern = str(tmp_path / "snapshots" / "**" / "*.jsonl.zst")
    rows = duckdb.sql(
        f"select count(*), any_value(mode) from read_json('{pattern}', hive_partitioning=true)"
    ).fetchall()
    assert rows == [(20, "swing")]


@given(
    st.lists(any_snapshots(mode=Mode.SWING, source=Source.KIS_REST, trading_day=DAY), max_size=25),
    st.integers(min_value=0, max_value=12),
    st.lists(st.booleans(), max_size=25),
)
def test_symbol_filter_keeps_exactly_the_wanted_symbols(
    records: list[ObservationSnapshot], how_many: int, flushes: list[bool]
) -> None:
    """For any symbols (escapes, non-ASCII), the filter yields exactly the matching records."""
    records = [msgspec.structs.replace(r, seq=i) for i, r in enumerate(records, 1)]
    wanted = {r.symbol for r in records[:how_many]} | {"999999"}
    with tempfile.TemporaryDirectory() as tmp:
        with ArchiveWriter(tmp, clock=FakeClock()) as writer:
            for record, flush in zip(records, flushes + [False] * len(records), strict=False):
                writer.append(record)
                if flush:
                    writer.flush()
        got = list(open_archive(tmp).snapshots(symbols=wanted))
    assert [r for r in records if r.symbol in wanted] == got


def test_line_that_is_not_utf8_is_a_corrupt_record(tmp_path: Path) -> None:
    """A byte that is not UTF-8 inside a record raises CorruptRecordError naming the line."""
    bad = ENCODER.encode(snapshot(2)).replace(b'"swing-', b'"\xff-')
    _write_lines(tmp_path, [ENCODER.encode(snapshot(1)) + b"\n", bad + b"\n"])
    with pytest.raises(CorruptRecordError, match="line 2"):
        list(open_archive(tmp_path).snapshots())


def test_skip_corrupt_skips_a_line_that_is_not_utf8(tmp_path: Path) -> None:
    """With skip_corrupt a line with a non-UTF-8 byte is skipped and reported like bad JSON."""
    lines = [ENCODER.encode(snapshot(s)) + b"\n" for s in (1, 2, 3)]
    lines[1] = lines[1].replace(b'"swing-', b'"\xff-')
    _write_lines(tmp_path, lines)
    reader = open_archive(tmp_path, skip_corrupt=True)
    got = [s.seq for s in reader.snapshots()]
    assert (got, [c.line for c in reader.report.corrupt]) == ([1, 3], [2])


def verify_manifest_size(path: Path) -> int:
    """The size a sealed segment's manifest states."""
    return read_manifest(
        path.with_name(path.name.removesuffix(".jsonl.zst") + ".manifest.json")
    ).size_bytes


def _cut_after_first_frame(root: Path) -> Path:
    """Three sealed frames, the file then cut at the end of its first: whole frames only."""
    _write(root, snapshots(range(1, 4)), snapshots(range(4, 7)), snapshots(range(7, 10)))
    path = data_files(root)[0]
    with open(path, "r+b") as fh:
        fh.truncate(_frame_offsets(path)[1])
    return path


def test_sealed_segment_cut_at_a_frame_boundary_is_an_error(tmp_path: Path) -> None:
    """Frames missing from a sealed segment raise ManifestMismatchError naming the file,
    though every frame left is whole."""
    path = _cut_after_first_frame(tmp_path)
    with pytest.raises(ManifestMismatchError, match="frames are missing") as info:
        list(open_archive(tmp_path).snapshots())
    assert str(info.value).startswith(str(path))


def test_skip_corrupt_reads_what_is_left_of_a_cut_sealed_segment_and_reports_it(
    tmp_path: Path,
) -> None:
    """With skip_corrupt the frames left are read and the missing bytes are reported."""
    path = _cut_after_first_frame(tmp_path)
    missing = verify_manifest_size(path) - path.stat().st_size
    reader = open_archive(tmp_path, skip_corrupt=True)
    got = [s.seq for s in reader.snapshots()]
    assert ([1, 2, 3], [(str(path), missing)]) == (
        got,
        [(c.path, c.length) for c in reader.report.corrupt],
    )


def test_sealed_segment_emptied_is_an_error(tmp_path: Path) -> None:
    """A sealed segment truncated to nothing is reported, not read as no records."""
    _write(tmp_path, snapshots(range(1, 4)))
    data_files(tmp_path)[0].write_bytes(b"")
    with pytest.raises(ManifestMismatchError, match="0 bytes"):
        list(open_archive(tmp_path).snapshots())


def test_interrupted_compaction_reads_the_data_before_it(tmp_path: Path) -> None:
    """Between compaction's two renames the manifest is new and the data old: read as is."""
    _write(tmp_path, snapshots(range(1, 4)), snapshots(range(4, 7)))
    path = data_files(tmp_path)[0]
    before = path.read_bytes()
    compact_day(tmp_path, DAY)
    path.with_name(f".{path.name}.compact.tmp").write_bytes(path.read_bytes())
    path.write_bytes(before)
    assert list(range(1, 7)) == [s.seq for s in open_archive(tmp_path).snapshots()]


def test_open_segment_with_a_damaged_block_size_before_intact_frames_is_an_error(
    tmp_path: Path,
) -> None:
    """A block size that runs past the end, followed by intact frames, is damage, not a tail
    still being written: the frames after it are not silently left unread."""
    writer = ArchiveWriter(tmp_path, clock=FakeClock())
    for first in (1, 4, 7):
        writer.append_many(snapshots(range(first, first + 3)))
        writer.flush()
    path = data_files(tmp_path)[0]
    claim_huge_block(path)
    with pytest.raises(CorruptFrameError, match="damaged block header") as info:
        list(open_archive(tmp_path).snapshots())
    reader = open_archive(tmp_path, skip_corrupt=True)
    got = [s.seq for s in reader.snapshots()]
    writer.close()
    assert ((str(path), 0), [4, 5, 6, 7, 8, 9], 0) == (
        (info.value.path, info.value.offset),
        got,
        reader.report.open_tail_bytes,
    )


def test_directory_that_is_not_a_partition_is_named(tmp_path: Path) -> None:
    """A ``date=garbage`` directory raises ArchiveFormatError naming it."""
    _write(tmp_path, snapshots(range(1, 4)))
    bad = tmp_path / "snapshots" / "date=garbage" / "mode=swing" / "source=kis-rest"
    bad.mkdir(parents=True)
    with pytest.raises(ArchiveFormatError, match="date=garbage"):
        list(open_archive(tmp_path).snapshots())


def test_skip_corrupt_reads_the_partitions_beside_a_bad_directory(tmp_path: Path) -> None:
    """With skip_corrupt the good partitions are read and the bad directory is reported."""
    _write(tmp_path, snapshots(range(1, 4)))
    bad = tmp_path / "snapshots" / "date=garbage" / "mode=swing" / "source=kis-rest"
    bad.mkdir(parents=True)
    reader = open_archive(tmp_path, skip_corrupt=True)
    got = [s.seq for s in reader.snapshots(dates=[DAY])]
    got += [s.seq for s in reader.snapshots(dates=[DAY])]  # listed twice, reported once
    assert ([1, 2, 3] * 2, [str(bad)]) == (got, [c.path for c in reader.report.corrupt])


@pytest.mark.parametrize("what", ["missing", "file"])
def test_reader_on_a_root_that_is_not_a_directory_is_an_error(tmp_path: Path, what: str) -> None:
    """A mistyped root raises ArchiveIOError rather than reading as an empty archive."""
    root = tmp_path / "observer-archvie"
    if what == "file":
        root.write_text("")
    with pytest.raises(ArchiveIOError, match="no archive there"):
        open_archive(root)


def _naive(field: str, line: int) -> Callable[[dict[str, Any]], str]:
    def rewrite(record: dict[str, Any]) -> str:
        if record["seq"] == line:
            record[field] = (
                dt.datetime.fromisoformat(record[field]).replace(tzinfo=None).isoformat()
            )
        return json.dumps(record)

    return rewrite


@pytest.mark.parametrize("field", ["exchange_time", "receive_time"])
def test_a_snapshot_time_without_a_utc_offset_is_a_corrupt_record(
    tmp_path: Path, field: str
) -> None:
    """A time with no offset names no instant: the line is a corrupt record, not a time in
    the reading host's zone (and not a crash of a time filter comparing it)."""
    _write(tmp_path, snapshots(range(1, 5)))
    (segment,) = data_files(tmp_path)
    _rewrite_lines(segment, _naive(field, 2))
    with pytest.raises(CorruptRecordError) as info:
        list(open_archive(tmp_path).snapshots())
    assert (2, True) == (info.value.line, f"$.{field}" in info.value.reason)


def test_a_ledger_time_without_a_utc_offset_is_a_corrupt_record(tmp_path: Path) -> None:
    """started_at without an offset does not decode: the ledger line is a corrupt record."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many([ledger_entry(1), ledger_entry(2)])
    (segment,) = data_files(tmp_path)
    _rewrite_lines(segment, _naive("started_at", 1))
    with pytest.raises(CorruptRecordError) as info:
        list(open_archive(tmp_path).ledger())
    assert 1 == info.value.line
