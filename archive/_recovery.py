"""Repairing segments left open by a crash: cut the torn tail, seal, and say what was cut.

A writer that dies mid-flush leaves ``part-N.jsonl.zst.open`` whose last frame may be
incomplete. Recovery keeps every complete frame, truncates the rest, seals the segment
(manifest + rename, as a normal seal does) and reports the bytes cut and the records known
lost in them, so that the loss is booked in the ledger with cause ``torn_tail``.

Damage in the *middle* of an open segment (a bad frame followed by intact frames) is not a
torn tail: recovery refuses to cut intact data and raises ``CorruptFrameError``. That holds
for a frame whose damaged block header makes it seem to run past the end of the file, too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import zstandard

from pipeline import (
    DECODE_ERRORS,
    LEDGER_DECODER,
    RAW_DECODER,
    SNAPSHOT_DECODER,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    Source,
)

from ._errors import CorruptFrameError, CorruptRecordError, translate_errors
from ._frames import count_partial_lines, decompress_frame, intact_frame_after, walk_frames
from ._layout import Family, Partition, SegmentName, fsync_dir
from ._manifest import SegmentSummary, sha256_file, write_manifest

__all__ = ["DECODERS", "RecoveredSegment", "RecoveryReport", "recover_segment"]

DECODERS: Final[dict[Family, Callable[[bytes], Any]]] = {
    Family.SNAPSHOTS: SNAPSHOT_DECODER.decode,
    Family.RAW: RAW_DECODER.decode,
    Family.LEDGER: LEDGER_DECODER.decode,
}


@dataclasses.dataclass(frozen=True, slots=True)
class RecoveredSegment:
    """One open segment found at start and what recovery did with it.

    ``sealed_file`` is the sealed segment's name, or ``None`` when no complete frame
    survived (the open file is then removed). ``torn_lines`` counts the records known lost in
    the cut bytes: the complete and partial lines a streaming decompressor recovers from the
    torn frame, and at least 1 whenever bytes were cut (a frame is never written empty).
    """

    partition: Partition
    open_file: str
    sealed_file: str | None
    records_kept: int
    last_seq: int | None
    torn_bytes: int
    torn_lines: int
    environment: str | None  # of the last record kept, to book the loss under


@dataclasses.dataclass(slots=True)
class RecoveryReport:
    """Everything recovery did when a writer opened an archive root."""

    segments: list[RecoveredSegment] = dataclasses.field(default_factory=list)
    skipped_locked: list[str] = dataclasses.field(default_factory=list)  # live writers' partitions
    compactions_finished: list[str] = dataclasses.field(default_factory=list)

    @property
    def torn_bytes(self) -> int:
        return sum(s.torn_bytes for s in self.segments)

    @property
    def torn_lines(self) -> int:
        return sum(s.torn_lines for s in self.segments)

    def ledger_entries(
        self, now: dt.datetime, *, environment: Environment | str = Environment.SIM
    ) -> list[LedgerEntry]:
        """One ``LedgerEntry`` per torn *snapshot* segment, booking the cut records as failed.

        ``cycle_id`` is ``recovery:<segment path>``; ``expected == failed["torn_tail"]``, so
        conservation holds. ``seq`` is left 0: ``ArchiveWriter.book_recovery`` assigns it.
        Torn raw and ledger segments are reported in ``segments`` but are not observation
        loss. ``environment`` is used when the segment kept no record to take it from.
        """
        entries = []
        for seg in self.segments:
            if seg.partition.family != Family.SNAPSHOTS or seg.torn_bytes == 0:
                continue
            entries.append(
                LedgerEntry(
                    cycle_id=f"recovery:{seg.partition}/{seg.open_file}",
                    mode=Mode(seg.partition.mode),
                    source=Source(seg.partition.source),
                    environment=Environment(seg.environment or environment),
                    trading_day=seg.partition.date,
                    started_at=now,
                    ended_at=now,
                    expected=seg.torn_lines,
                    failed={FailureCause.TORN_TAIL.value: seg.torn_lines},
                )
            )
        return entries


def _decode_frames(
    path: Path, data: bytes, family: Family, summary: SegmentSummary
) -> tuple[int, int | None]:
    """Feed complete, intact frames to ``summary``; return (good end, where the walk stopped).

    The second value is ``None`` when every byte was read; else the offset of a damaged
    frame, or of one that runs past the end (a torn tail, unless intact frames follow it).
    """
    decode = DECODERS[family]
    walk = walk_frames(data)
    end = 0
    for span in walk.frames:
        if span.skippable:
            end = span.end
            continue
        try:
            text = decompress_frame(data, span)
        except zstandard.ZstdError:
            return end, span.start
        records = []
        for number, line in enumerate(text.split(b"\n")[:-1], 1):
            try:
                records.append(decode(line))
            except DECODE_ERRORS as exc:
                raise CorruptRecordError(path, span.start, number, str(exc)) from exc
        for record in records:
            summary.add(record)
        summary.frames += 1
        summary.uncompressed_bytes += len(text)
        end = span.end
    return end, None if walk.reason is None else walk.stop


def recover_segment(
    root: Path, partition: Partition, path: Path, *, zstd_level: int
) -> RecoveredSegment:
    """Cut the torn tail of one open segment, seal what survives, and report the cut.

    The caller holds the partition lock.
    """
    directory = path.parent
    parsed = SegmentName.parse(path.name)
    if parsed is None or not parsed[0].is_open:
        raise ValueError(f"{path} is not an open segment")
    name = parsed[0]
    with translate_errors(path, what="cannot read open segment"):
        data = path.read_bytes()
    summary = SegmentSummary()
    good_end, bad_at = _decode_frames(path, data, partition.family, summary)
    if bad_at is not None:
        later = intact_frame_after(data, bad_at)
        if later is not None:
            raise CorruptFrameError(
                path,
                bad_at,
                f"damaged frame followed by an intact frame at {later}; "
                "not a torn tail, refusing to cut intact data",
            )
    torn_bytes = len(data) - good_end
    torn_lines = 0
    if torn_bytes:
        complete, partial = count_partial_lines(data, good_end)
        torn_lines = max(1, complete + int(partial))
    with translate_errors(path, what="recovery failed"):
        if summary.count == 0:
            path.unlink()
            fsync_dir(directory)
            return RecoveredSegment(
                partition, path.name, None, 0, None, torn_bytes, torn_lines, None
            )
        if torn_bytes:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, good_end)
                os.fsync(fd)
            finally:
                os.close(fd)
        last_seq: int = summary.last.seq  # type: ignore[attr-defined]
        sealed = name.sealed(last_seq)
        sha, size = sha256_file(path)
        manifest = summary.manifest(
            partition,
            sealed.data,
            sha256=sha,
            size_bytes=size,
            zstd_level=zstd_level,
            sealed_by="recovery",
            torn_tail_bytes=torn_bytes,
            torn_tail_lines=torn_lines,
        )
        write_manifest(directory, sealed.manifest, manifest)
        os.replace(path, directory / sealed.data)
        fsync_dir(directory)
    environment = getattr(summary.last, "environment", None)
    return RecoveredSegment(
        partition,
        path.name,
        sealed.data,
        summary.count,
        last_seq,
        torn_bytes,
        torn_lines,
        None if environment is None else str(getattr(environment, "value", environment)),
    )
