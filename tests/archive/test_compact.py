"""compact_day: recompress a closed day, manifests and checksums kept true."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from archive import (
    ArchiveError,
    ArchiveFormatError,
    ArchiveLockedError,
    ArchiveWriter,
    UnknownSchemaVersionError,
    compact_day,
    open_archive,
    verify_segment,
)
from tests.archive.helpers import DAY, FakeClock, data_files, snapshot, snapshots


def _write_day(root: Path, frames: int = 4, per_frame: int = 200) -> None:
    with ArchiveWriter(root, clock=FakeClock()) as writer:
        for i in range(frames):
            writer.append_many(snapshots(range(i * per_frame + 1, (i + 1) * per_frame + 1)))
            writer.flush()


def test_compaction_keeps_every_record(tmp_path: Path) -> None:
    """Reading a compacted day gives the same records as before."""
    _write_day(tmp_path)
    before = list(open_archive(tmp_path).snapshots())
    compact_day(tmp_path, DAY, level=9)
    assert before == list(open_archive(tmp_path).snapshots())


def test_manifest_checksum_is_true_after_compaction(tmp_path: Path) -> None:
    """The rewritten manifest matches the compacted file and says it was compacted."""
    _write_day(tmp_path)
    compact_day(tmp_path, DAY, level=9)
    manifest = verify_segment(data_files(tmp_path)[0])
    expected = (True, 9, 1, 800)
    assert expected == (
        manifest.compacted,
        manifest.zstd_level,
        manifest.frames,
        manifest.record_count,
    )


def test_compaction_shrinks_the_day(tmp_path: Path) -> None:
    """A high level over whole-segment frames beats level-1 one-per-flush frames."""
    _write_day(tmp_path, frames=20, per_frame=50)
    report = compact_day(tmp_path, DAY, level=9)
    assert report.bytes_after < report.bytes_before


def test_compaction_is_idempotent(tmp_path: Path) -> None:
    """A second run at the same level skips every segment and changes no byte."""
    _write_day(tmp_path)
    compact_day(tmp_path, DAY, level=9)
    before = data_files(tmp_path)[0].read_bytes()
    report = compact_day(tmp_path, DAY, level=9)
    assert (0, 1, before) == (
        len(report.segments),
        len(report.skipped),
        data_files(tmp_path)[0].read_bytes(),
    )


def test_interrupted_compaction_is_finished_at_writer_start(tmp_path: Path) -> None:
    """A crash between the manifest and data renames is completed by the next writer."""
    _write_day(tmp_path)
    original = data_files(tmp_path)[0]
    saved = original.read_bytes()
    compact_day(tmp_path, DAY, level=9)
    # Reconstruct the crash: new manifest in place, new data still under its temp name.
    tmp = original.with_name(f".{original.name}.compact.tmp")
    shutil.copyfile(original, tmp)
    original.write_bytes(saved)
    with ArchiveWriter(tmp_path) as writer:
        finished = writer.recovery.compactions_finished
    assert ([str(original)], True) == (finished, verify_segment(original).compacted)


def test_stale_compaction_temp_is_discarded(tmp_path: Path) -> None:
    """A temp file that does not match the manifest (crash before the manifest) is removed."""
    _write_day(tmp_path)
    original = data_files(tmp_path)[0]
    tmp = original.with_name(f".{original.name}.compact.tmp")
    tmp.write_bytes(b"partial")
    compact_day(tmp_path, DAY, level=9)
    expected = (False, True)
    assert expected == (tmp.exists(), verify_segment(original).compacted)


def test_compaction_refuses_a_partition_being_written(tmp_path: Path) -> None:
    """A partition locked by a writer is not compacted under it."""
    _write_day(tmp_path)
    with ArchiveWriter(tmp_path) as writer:
        writer.append(snapshot(10_000))
        with pytest.raises(ArchiveLockedError):
            compact_day(tmp_path, DAY, level=9)


def test_compaction_refuses_an_unrecovered_open_segment(tmp_path: Path) -> None:
    """An open segment left by a crash must be recovered (and booked) before compaction."""
    _write_day(tmp_path)
    directory = data_files(tmp_path)[0].parent
    (directory / "part-000000009000.jsonl.zst.open").write_bytes(b"")
    with pytest.raises(ArchiveError, match="open segment"):
        compact_day(tmp_path, DAY, level=9)
    os.unlink(directory / "part-000000009000.jsonl.zst.open")


def test_compaction_names_a_directory_that_is_not_a_partition(tmp_path: Path) -> None:
    """A badly named directory in the day is an ArchiveFormatError naming it, not a crash."""
    _write_day(tmp_path, frames=1)
    bad = tmp_path / "snapshots" / f"date={DAY}" / "mode=sc alp" / "source=kis-ws"
    bad.mkdir(parents=True)
    with pytest.raises(ArchiveFormatError, match="mode=sc alp"):
        compact_day(tmp_path, DAY, level=9)


def test_compaction_keeps_a_record_whose_frame_lacks_its_final_newline(tmp_path: Path) -> None:
    """A frame ending without a newline is read as ending a record; compaction joining it
    to the next frame keeps both records (and the manifest stays true)."""
    import zstandard

    from archive._frames import walk_frames
    from tests.archive.helpers import restate_manifest

    _write_day(tmp_path, frames=2, per_frame=3)
    path = data_files(tmp_path)[0]
    data = path.read_bytes()
    first, second = walk_frames(data).frames
    text = zstandard.ZstdDecompressor().decompress(data[first.start : first.end])
    cctx = zstandard.ZstdCompressor(write_checksum=True, write_content_size=True)
    path.write_bytes(cctx.compress(text.rstrip(b"\n")) + data[second.start :])
    restate_manifest(path)
    before = list(open_archive(tmp_path).snapshots())
    compact_day(tmp_path, DAY, level=9)
    verify_segment(path)
    assert (list(range(1, 7)), before) == (
        [s.seq for s in before],
        list(open_archive(tmp_path).snapshots()),
    )


def _bump_manifest_version(root: Path) -> Path:
    (manifest,) = root.glob("snapshots/**/*.manifest.json")
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text.replace('"manifest_version":1', '"manifest_version":2').replace(
            "{", '{"retention":"30d",', 1
        ),
        encoding="utf-8",
    )
    return manifest


def test_compaction_refuses_a_manifest_from_a_newer_writer(tmp_path: Path) -> None:
    """A manifest of a newer version is refused, not rewritten without the fields it added."""
    _write_day(tmp_path)
    manifest = _bump_manifest_version(tmp_path)
    before = manifest.read_bytes()
    with pytest.raises(UnknownSchemaVersionError) as info:
        compact_day(tmp_path, DAY, level=9)
    refused = "manifest version 2 is newer" in str(info.value)
    assert (True, before) == (refused, manifest.read_bytes())


def test_a_manifest_time_without_a_utc_offset_is_refused(tmp_path: Path) -> None:
    """A manifest whose first receive time has no offset is not one of ours: it is refused."""
    _write_day(tmp_path)
    (manifest,) = tmp_path.glob("snapshots/**/*.manifest.json")
    record = json.loads(manifest.read_text(encoding="utf-8"))
    record["first_receive_time"] = record["first_receive_time"].removesuffix("Z")
    manifest.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ArchiveFormatError, match=r"not a segment manifest.*first_receive_time"):
        verify_segment(data_files(tmp_path)[0])
