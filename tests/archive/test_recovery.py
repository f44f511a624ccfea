"""Recovery of segments left open by a crash, and booking what was cut."""

from __future__ import annotations

import datetime as dt
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from archive import (
    ArchiveWriter,
    CorruptFrameError,
    CorruptRecordError,
    Partition,
    open_archive,
    verify_segment,
)
from pipeline import ENCODER, FailureCause
from tests.archive.helpers import (
    DAY,
    FakeClock,
    claim_huge_block,
    data_files,
    snapshot,
    snapshots,
)

PART = Partition("snapshots", DAY, "swing", "kis-rest")
NOW = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)


def _open_segment(batches: list[int]) -> tuple[bytes, list[int], list[int]]:
    """Bytes of an open segment written as one frame per batch, frame end offsets, last seqs."""
    with tempfile.TemporaryDirectory() as tmp:
        writer = ArchiveWriter(tmp, clock=FakeClock())
        ends, lasts, seq = [], [], 0
        for size in batches:
            writer.append_many(snapshots(range(seq + 1, seq + size + 1)))
            seq += size
            writer.flush()
            ends.append(data_files(Path(tmp))[0].stat().st_size)
            lasts.append(seq)
        data = data_files(Path(tmp))[0].read_bytes()
        writer.close()
    return data, ends, lasts


def _crash_root(root: Path, data: bytes) -> Path:
    """An archive root holding ``data`` as the open segment a crashed writer left."""
    directory = PART.dir(root)
    directory.mkdir(parents=True)
    path = directory / "part-000000000001.jsonl.zst.open"
    path.write_bytes(data)
    return path


@given(
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=5),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_crash_cut_at_any_byte_keeps_exactly_the_complete_frames(
    batches: list[int], where: float
) -> None:
    """Cut an open segment at any byte: recovery keeps the complete frames and books the rest."""
    data, ends, lasts = _open_segment(batches)
    cut = round(where * len(data))
    complete = [i for i, end in enumerate(ends) if end <= cut]
    kept_end = ends[complete[-1]] if complete else 0
    kept_last = lasts[complete[-1]] if complete else 0
    torn_frame_lines = next((b for e, b in zip(ends, batches, strict=True) if e > cut), 0)
    with tempfile.TemporaryDirectory() as tmp:
        _crash_root(Path(tmp), data[:cut])
        with ArchiveWriter(tmp, clock=FakeClock()) as writer:
            report = writer.recovery
        seqs = [s.seq for s in open_archive(tmp).snapshots()]
    [segment] = report.segments
    torn = cut - kept_end
    assert (list(range(1, kept_last + 1)), torn, torn > 0, True) == (
        seqs,
        segment.torn_bytes,
        segment.torn_lines > 0,
        segment.torn_lines <= torn_frame_lines,
    )


def test_recovered_segment_is_sealed_with_a_true_manifest(tmp_path: Path) -> None:
    """Recovery seals what survives, and the manifest matches the truncated file."""
    data, ends, _ = _open_segment([5, 5])
    _crash_root(tmp_path, data[: ends[1] - 7])
    ArchiveWriter(tmp_path).close()
    manifest = verify_segment(data_files(tmp_path)[0])
    assert ("recovery", 5, 5, ends[1] - 7 - ends[0]) == (
        manifest.sealed_by,
        manifest.record_count,
        manifest.last_seq,
        manifest.torn_tail_bytes,
    )


def test_open_segment_with_no_complete_frame_is_removed(tmp_path: Path) -> None:
    """A segment torn inside its first frame leaves no file behind, and the cut is reported."""
    data, _, _ = _open_segment([5])
    _crash_root(tmp_path, data[:10])
    with ArchiveWriter(tmp_path) as writer:
        report = writer.recovery
    expected: tuple[object, ...] = ([], 10, None)
    assert expected == (
        data_files(tmp_path),
        report.torn_bytes,
        report.segments[0].sealed_file,
    )


def test_writer_resumes_seq_after_recovery(tmp_path: Path) -> None:
    """After recovery last_seq is the last seq kept, so the producer resumes from there."""
    data, ends, _ = _open_segment([4, 4])
    _crash_root(tmp_path, data[: ends[1] - 1])
    with ArchiveWriter(tmp_path) as writer:
        assert writer.last_seq(PART) == 4


def test_damage_followed_by_intact_frames_is_not_cut(tmp_path: Path) -> None:
    """A bad frame in the middle is not a torn tail: recovery refuses to cut intact data."""
    data, ends, _ = _open_segment([3, 3, 3])
    damaged = bytearray(data)
    damaged[ends[1] - 2] ^= 0xFF
    path = _crash_root(tmp_path, bytes(damaged))
    with pytest.raises(CorruptFrameError) as info:
        ArchiveWriter(tmp_path)
    assert (str(path), ends[0]) == (info.value.path, info.value.offset)


def test_ledger_entries_book_torn_tail(tmp_path: Path) -> None:
    """Each torn snapshot segment becomes a ledger entry with failed torn_tail = lines lost."""
    data, ends, _ = _open_segment([3, 6])
    _crash_root(tmp_path, data[: ends[1] - 1])
    with ArchiveWriter(tmp_path) as writer:
        [entry] = writer.recovery.ledger_entries(NOW)
    lost = writer.recovery.segments[0].torn_lines
    assert (lost, {FailureCause.TORN_TAIL.value: lost}, "recovery:") == (
        entry.expected,
        entry.failed,
        entry.cycle_id[:9],
    )


def test_book_recovery_appends_the_entries_to_the_ledger(tmp_path: Path) -> None:
    """book_recovery writes the torn-tail entries into the ledger partition."""
    data, ends, _ = _open_segment([3, 6])
    _crash_root(tmp_path, data[: ends[1] - 1])
    with ArchiveWriter(tmp_path) as writer:
        booked = writer.book_recovery(NOW)
    assert booked == list(open_archive(tmp_path).ledger())


def test_recovery_skips_a_partition_held_by_a_live_writer(tmp_path: Path) -> None:
    """An open segment whose partition is locked is a live writer's, not a crash."""
    live = ArchiveWriter(tmp_path)
    live.append(snapshot(1))
    live.flush()
    with ArchiveWriter(tmp_path) as other:
        report = other.recovery
    live.close()
    assert ([str(PART)], []) == (report.skipped_locked, report.segments)


_CHILD = textwrap.dedent(
    """
    import datetime as dt, sys
    from archive import ArchiveWriter, WriterConfig
    from pipeline import KST, Environment, Mode, ObservationSnapshot, Source

    day = dt.date(2026, 11, 24)
    base = dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST)
    writer = ArchiveWriter(sys.argv[1], WriterConfig(flush_interval_s=1e9), clock=lambda: 0.0)
    frame = int(sys.argv[2])
    for seq in range(1, 2_000_001):
        t = base + dt.timedelta(microseconds=seq)
        writer.append(ObservationSnapshot(
            seq=seq, symbol=f"{seq % 2500:06d}", mode=Mode.SWING, source=Source.KIS_REST,
            environment=Environment.SIM, trading_day=day, exchange_time=t,
            receive_time=t.astimezone(dt.UTC), cycle_id="c", last=1000 + seq % 97, volume=seq,
        ))
        if seq % frame == 0:
            writer.flush()
            print(seq, flush=True)
    """
)


def test_sigkill_mid_write_loses_at_most_the_frame_in_flight(tmp_path: Path) -> None:
    """SIGKILL a writer process; restart: every flushed frame is there, whole, the tail booked."""
    frame = 500
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(frame)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert child.stdout is not None
    acked = 0
    deadline = time.monotonic() + 60
    try:
        while acked < 20 * frame and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                line = child.stdout.readline()
                if not line:
                    break
                acked = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    with ArchiveWriter(tmp_path) as writer:
        booked = writer.book_recovery(NOW)
        report = writer.recovery
    seqs = [s.seq for s in open_archive(tmp_path).snapshots()]
    kept = len(seqs)
    lost_booked = sum(e.failed.get("torn_tail", 0) for e in booked)
    # Everything acknowledged is there, whole frames only, in order; a torn tail is booked.
    assert (True, list(range(1, kept + 1)), 0, report.torn_bytes > 0, True) == (
        kept >= acked >= 20 * frame,
        seqs,
        kept % frame,
        lost_booked > 0,
        lost_booked <= frame,
    )
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_open_segment_with_a_non_utf8_record_is_named_not_a_crash(tmp_path: Path) -> None:
    """A non-UTF-8 byte in an open segment's record stops recovery with the file named."""
    line = ENCODER.encode(snapshot(1)).replace(b'"swing-', b'"\xff-') + b"\n"
    path = _crash_root(tmp_path, zstandard.ZstdCompressor(write_checksum=True).compress(line))
    with pytest.raises(CorruptRecordError) as info:
        ArchiveWriter(tmp_path)
    assert (str(path), 1) == (info.value.path, info.value.line)


def test_damaged_block_size_followed_by_intact_frames_is_not_cut(tmp_path: Path) -> None:
    """A block size that runs past the end, with intact frames after it, is damage: recovery
    refuses, and every byte of the open segment is still there."""
    data, _, _ = _open_segment([3, 3, 3])
    path = _crash_root(tmp_path, data)
    claim_huge_block(path)
    damaged = path.read_bytes()
    with pytest.raises(CorruptFrameError) as info:
        ArchiveWriter(tmp_path)
    assert (0, damaged) == (info.value.offset, path.read_bytes())
