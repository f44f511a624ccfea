"""The archive reader: typed iteration over snapshots, raw events and ledger entries.

Usage (replay, report, verify, rederive)::

    reader = open_archive(root)                         # or ArchiveReader(root, skip_corrupt=True)
    for snap in reader.snapshots(dates=[day], symbols={"005930"}, mode="scalp",
                                 exchange_window=(start, end)):
        ...
    for event in reader.raw(dates=[day]): ...           # RawEvent union, in seq order per partition
    for entry in reader.ledger(dates=[day]): ...
    reader.report                                       # what was skipped, torn, read

Order: partitions sorted by (date, mode, source), then each partition's segments in seq
order, sealed and open alike; within a segment, records in the order written. Open segments
(``.jsonl.zst.open``, a writer still at work or a crash not yet recovered) are read up to
their last complete frame; the bytes after it are counted in ``report.open_tail_bytes``.

A damaged frame raises ``CorruptFrameError`` naming the file and byte offset; with
``skip_corrupt=True`` it is skipped, the reader resynchronises on the next frame, and the
skip is listed in ``report.corrupt``. The same rule covers damage no frame shows: a sealed
segment whose size is not its manifest's (cut at a frame boundary, or to nothing: frames
are missing though every one left is whole) raises ``ManifestMismatchError``, and a
directory under a family that is not a ``date=/mode=/source=`` partition raises
``ArchiveFormatError`` (both listed in ``report.corrupt`` under ``skip_corrupt``). A
record whose schema version is newer than this code knows always raises
``UnknownSchemaVersionError`` (skipping it would be silent loss).

Each frame is decompressed whole and each line decoded with the typed decoder of its family
(line by line beat ``decode_lines`` on chunks, DESIGN). A symbol filter on snapshots is
checked on the raw line before decoding, so reading one symbol of a day skips the decode of
the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import zstandard

from pipeline import (
    DECODE_ERRORS,
    ENCODER,
    LEDGER_SCHEMA_VERSION,
    RAW_SCHEMA_VERSION,
    SNAPSHOT_SCHEMA_VERSION,
    LedgerEntry,
    ObservationSnapshot,
    RawEvent,
    WsFrame,
)

from ._compact import COMPACT_TMP_SUFFIX
from ._errors import (
    ArchiveError,
    ArchiveFormatError,
    ArchiveIOError,
    CorruptFrameError,
    CorruptRecordError,
    ManifestMismatchError,
    UnknownSchemaVersionError,
    translate_errors,
)
from ._frames import decompress_frame, find_next_magic, intact_frame_after, walk_frames
from ._layout import (
    DATA_SUFFIX,
    MANIFEST_SUFFIX,
    OPEN_SUFFIX,
    Family,
    Partition,
    SegmentName,
    iter_partition_dirs,
)
from ._manifest import SegmentManifest, read_manifest
from ._recovery import DECODERS

__all__ = ["ArchiveReader", "CorruptSpan", "ReadReport", "open_archive"]

KNOWN_SCHEMA_VERSION: Final[dict[Family, int]] = {
    Family.SNAPSHOTS: SNAPSHOT_SCHEMA_VERSION,
    Family.RAW: RAW_SCHEMA_VERSION,
    Family.LEDGER: LEDGER_SCHEMA_VERSION,
}

Window = tuple[dt.datetime | None, dt.datetime | None]


class _VersionOnly(msgspec.Struct):
    schema_version: int = 0


_VERSION_DECODER: Final = msgspec.json.Decoder(_VersionOnly)
_RECORD: Final = operator.itemgetter(1)
_MAX_NEEDLES: Final = 8


@dataclasses.dataclass(frozen=True, slots=True)
class CorruptSpan:
    """Bytes or a line skipped under ``skip_corrupt``: where, how long, and why."""

    path: str
    offset: int  # byte offset of the frame in the file
    length: int  # bytes skipped (0 for a single bad line inside an intact frame)
    reason: str
    line: int | None = None  # line number in the file, for a bad line


@dataclasses.dataclass(slots=True)
class ReadReport:
    """What a reader has read and skipped so far (accumulates over calls)."""

    segments_read: int = 0
    open_segments_read: int = 0
    records: int = 0  # records yielded
    open_tail_bytes: int = 0  # bytes past the last complete frame of open segments
    corrupt: list[CorruptSpan] = dataclasses.field(default_factory=list)


def _as_dates(dates: dt.date | Iterable[dt.date] | None) -> set[dt.date] | None:
    if dates is None:
        return None
    if isinstance(dates, dt.date):
        return {dates}
    return set(dates)


def _plain(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _in_window(window: Window | None) -> Callable[[dt.datetime], bool] | None:
    if window is None:
        return None
    start, end = window
    if start is None and end is None:
        return None
    if (start is not None and start.tzinfo is None) or (end is not None and end.tzinfo is None):
        raise ValueError("window bounds must be timezone-aware datetimes")
    if start is None:
        return lambda t: t < end  # type: ignore[operator]
    if end is None:
        return lambda t: start <= t
    return lambda t: start <= t < end


class ArchiveReader:
    """Reads an archive root written by ``ArchiveWriter`` (read-only; takes no lock)."""

    def __init__(self, root: Path | str, *, skip_corrupt: bool = False) -> None:
        """``ArchiveIOError`` when ``root`` is not a directory (a typo would read as empty)."""
        self.root = Path(root)
        if not self.root.is_dir():
            reason = "is not a directory" if self.root.exists() else "does not exist"
            raise ArchiveIOError(f"{self.root}: no archive there: the path {reason}")
        self.skip_corrupt = skip_corrupt
        self.report = ReadReport()
        self._bad_dirs: set[Path] = set()

    # ------------------------------------------------------------------ discovery

    def partitions(
        self,
        family: Family | str,
        *,
        dates: dt.date | Iterable[dt.date] | None = None,
        mode: str | None = None,
        source: str | None = None,
    ) -> list[Partition]:
        """Partitions of a family present on disk, sorted by (date, mode, source)."""
        family = Family(str(getattr(family, "value", family)))
        wanted_dates = _as_dates(dates)
        mode_s, source_s = _plain(mode), _plain(source)
        found = []
        for directory in iter_partition_dirs(self.root, family):
            try:
                partition = Partition.from_dir(self.root, directory)
            except ValueError as exc:
                if directory not in self._bad_dirs:  # listing again does not report it again
                    self._damage(ArchiveFormatError(str(exc)), directory)
                    self._bad_dirs.add(directory)
                continue
            if wanted_dates is not None and partition.date not in wanted_dates:
                continue
            if mode_s is not None and partition.mode != mode_s:
                continue
            if source_s is not None and partition.source != source_s:
                continue
            found.append(partition)
        return sorted(found, key=lambda p: (p.date, p.mode, p.source))

    def segments(self, partition: Partition) -> list[Path]:
        """Data files of a partition (sealed and open) in seq order."""
        directory = partition.dir(self.root)
        named = []
        with translate_errors(directory, what="cannot list partition"):
            entries = list(directory.iterdir())
        for path in entries:
            parsed = SegmentName.parse(path.name)
            if parsed is not None and parsed[1] in (DATA_SUFFIX, OPEN_SUFFIX):
                named.append((parsed[0].first_seq, path))
        return [path for _, path in sorted(named)]

    def manifests(
        self,
        family: Family | str,
        *,
        dates: dt.date | Iterable[dt.date] | None = None,
        mode: str | None = None,
        source: str | None = None,
    ) -> list[SegmentManifest]:
        """Manifests of the sealed segments of matching partitions, in read order."""
        out = []
        for partition in self.partitions(family, dates=dates, mode=mode, source=source):
            for path in self.segments(partition):
                if path.name.endswith(DATA_SUFFIX):
                    stem = path.name[: -len(DATA_SUFFIX)]
                    out.append(read_manifest(path.with_name(stem + MANIFEST_SUFFIX)))
        return out

    # ------------------------------------------------------------------ typed iteration

    def snapshots(
        self,
        *,
        dates: dt.date | Iterable[dt.date] | None = None,
        symbols: Iterable[str] | None = None,
        mode: str | None = None,
        source: str | None = None,
        exchange_window: Window | None = None,
        receive_window: Window | None = None,
    ) -> Iterator[ObservationSnapshot]:
        """Snapshots, filtered; windows are half-open ``[start, end)`` of aware datetimes."""
        wanted = None if symbols is None else frozenset(symbols)
        # Searching frames for the symbols pays off for a few; for many, decode every line.
        needles = (
            symbol_needles(wanted) if wanted is not None and len(wanted) <= _MAX_NEEDLES else None
        )
        in_exchange = _in_window(exchange_window)
        in_receive = _in_window(receive_window)

        def keep(s: ObservationSnapshot) -> bool:
            return (
                (wanted is None or s.symbol in wanted)
                and (in_exchange is None or in_exchange(s.exchange_time))
                and (in_receive is None or in_receive(s.receive_time))
            )

        plain = wanted is None and in_exchange is None and in_receive is None
        for partition in self.partitions(Family.SNAPSHOTS, dates=dates, mode=mode, source=source):
            for path in self.segments(partition):
                yield from self._records(path, Family.SNAPSHOTS, None if plain else keep, needles)

    def raw(
        self,
        *,
        dates: dt.date | Iterable[dt.date] | None = None,
        symbols: Iterable[str] | None = None,
        mode: str | None = None,
        source: str | None = None,
        receive_window: Window | None = None,
    ) -> Iterator[RawEvent]:
        """Raw events, filtered.

        With ``symbols``, an event is kept when it names one of them: in its ``symbols``
        field, or (a WebSocket frame) anywhere in its text. Events naming no symbol (a cycle
        end) are dropped by a symbol filter; read without one to replay a whole journal.
        """
        wanted = None if symbols is None else frozenset(symbols)
        in_receive = _in_window(receive_window)

        def names_wanted(e: Any) -> bool:
            if isinstance(e, WsFrame):
                return any(s in e.text for s in wanted)  # type: ignore[union-attr]
            return not wanted.isdisjoint(getattr(e, "symbols", ()))  # type: ignore[union-attr]

        def keep(e: Any) -> bool:
            return (wanted is None or names_wanted(e)) and (
                in_receive is None or in_receive(e.receive_time)
            )

        plain = wanted is None and in_receive is None
        for partition in self.partitions(Family.RAW, dates=dates, mode=mode, source=source):
            for path in self.segments(partition):
                yield from self._records(path, Family.RAW, None if plain else keep, None)

    def ledger(
        self,
        *,
        dates: dt.date | Iterable[dt.date] | None = None,
        mode: str | None = None,
        source: str | None = None,
    ) -> Iterator[LedgerEntry]:
        """Ledger entries of matching partitions."""
        for partition in self.partitions(Family.LEDGER, dates=dates, mode=mode, source=source):
            for path in self.segments(partition):
                yield from self._records(path, Family.LEDGER, None, None)

    def segment_records(self, path: Path | str) -> Iterator[Any]:
        """Every record of one segment file (its family taken from its place in the tree)."""
        path = Path(path)
        family = Family(path.parents[3].name)
        yield from self._records(path, family, None, None)

    # ------------------------------------------------------------------ the loop

    def _read(self, path: Path) -> tuple[Path, bytes] | None:
        with translate_errors(path, what="cannot read segment"):
            try:
                return path, path.read_bytes()
            except FileNotFoundError:
                parsed = SegmentName.parse(path.name)
                if parsed is None or not parsed[0].is_open:
                    raise
            # Sealed between listing and reading: read the sealed file instead.
            first = parsed[0].first_seq
            sealed = sorted(path.parent.glob(f"part-{first:012d}-*{DATA_SUFFIX}"))
            if not sealed:
                return None  # recovered with no complete frame: removed
            return sealed[0], sealed[0].read_bytes()

    def _records(
        self,
        path: Path,
        family: Family,
        keep: Callable[[Any], bool] | None,
        needles: list[bytes] | None,
    ) -> Iterator[Any]:
        # map + itemgetter drops the stored line in C: no second generator frame per record
        return map(_RECORD, self.segment_lines(path, family, keep=keep, needles=needles))

    def segment_lines(
        self,
        path: Path,
        family: Family,
        *,
        keep: Callable[[Any], bool] | None = None,
        needles: list[bytes] | None = None,
    ) -> Iterator[tuple[bytes, Any]]:
        """``(line as stored, typed record)`` of one segment, with the reader's damage rules.

        The one loop over a segment's frames: typed iteration takes the records, replay and
        rederive also take the stored bytes. ``needles``: only lines containing one of them
        are decoded (a cheap pre-filter for a few symbols); ``keep`` filters decoded records.
        """
        got = self._read(path)
        if got is None:
            return
        path, data = got
        is_open = path.name.endswith(OPEN_SUFFIX)
        report = self.report
        report.segments_read += 1
        report.open_segments_read += is_open
        decode = DECODERS[family]
        known = KNOWN_SCHEMA_VERSION[family]
        line_no = 0
        pos = 0
        size = len(data)
        whole = True  # every frame walked is whole (damage found is reported on its own)
        while pos < size:
            walk = walk_frames(data, pos)
            for span in walk.frames:
                if span.skippable:
                    continue
                try:
                    text = decompress_frame(data, span)
                except zstandard.ZstdError as exc:
                    if not self.skip_corrupt:
                        raise CorruptFrameError(path, span.start, str(exc)) from exc
                    report.corrupt.append(
                        CorruptSpan(str(path), span.start, span.end - span.start, str(exc))
                    )
                    continue
                numbered = (
                    enumerate(_split_lines(text), line_no + 1)
                    if needles is None
                    else _lines_with(text, needles, line_no)
                )
                for number, line in numbered:
                    try:
                        record = decode(line)
                    except DECODE_ERRORS as exc:
                        self._bad_line(path, family, span.start, number, line, exc)
                        continue
                    if record.schema_version > known:
                        raise UnknownSchemaVersionError(path, number, record.schema_version, known)
                    if keep is None or keep(record):
                        report.records += 1
                        yield line, record
                line_no += text.count(b"\n") + (bool(text) and not text.endswith(b"\n"))
            if walk.reason is None:
                break
            whole = False
            reason = walk.reason
            if walk.truncated:
                later = intact_frame_after(data, walk.stop)
                if later is None and is_open:
                    report.open_tail_bytes += size - walk.stop  # still being written, or torn
                    break
                reason = "a block runs past the end of the file: " + (
                    "the segment was cut short, or a block header is damaged"
                    if later is None
                    else f"a damaged block header (an intact frame follows at byte {later})"
                )
            if not self.skip_corrupt:
                raise CorruptFrameError(path, walk.stop, reason)
            resume = find_next_magic(data, walk.stop + 1)
            report.corrupt.append(CorruptSpan(str(path), walk.stop, resume - walk.stop, reason))
            pos = resume
        if whole and not is_open:
            self._check_size(path, size)

    def _check_size(self, path: Path, size: int) -> None:
        """A sealed segment must be as long as its manifest says: whole frames can go missing
        (a cut at a frame boundary) without any frame showing damage."""
        manifest_path = path.with_name(path.name[: -len(DATA_SUFFIX)] + MANIFEST_SUFFIX)
        try:
            stated = read_manifest(manifest_path).size_bytes
        except ArchiveError:
            return  # no (readable) manifest: verify names it; the frames still check themselves
        if stated == size:
            return
        if (path.parent / f".{path.name}{COMPACT_TMP_SUFFIX}").exists():
            return  # a compaction cut short between its renames: this is the data before it
        how = "frames are missing" if size < stated else "bytes were added after sealing"
        self._damage(
            ManifestMismatchError(
                f"{path}: {size} bytes, its manifest says {stated}: {how}; records may be lost"
            ),
            path,
            offset=min(size, stated),
            length=abs(stated - size),
        )

    def _damage(
        self, error: ArchiveFormatError, path: Path, *, offset: int = 0, length: int = 0
    ) -> None:
        """Raise ``error``, or under ``skip_corrupt`` list it in the report and go on."""
        if not self.skip_corrupt:
            raise error
        reason = str(error)
        prefix = f"{path}: "
        reason = reason[len(prefix) :] if reason.startswith(prefix) else reason
        self.report.corrupt.append(CorruptSpan(str(path), offset, length, reason))

    def _bad_line(
        self,
        path: Path,
        family: Family,
        offset: int,
        line_no: int,
        line: bytes,
        exc: Exception,
    ) -> None:
        known = KNOWN_SCHEMA_VERSION[family]
        try:
            version = _VERSION_DECODER.decode(line).schema_version
        except DECODE_ERRORS:
            version = 0
        if version > known:
            raise UnknownSchemaVersionError(path, line_no, version, known) from exc
        if not self.skip_corrupt:
            raise CorruptRecordError(path, offset, line_no, str(exc)) from exc
        self.report.corrupt.append(CorruptSpan(str(path), offset, 0, str(exc), line_no))


def _split_lines(text: bytes) -> list[bytes]:
    lines = text.split(b"\n")
    if not lines[-1]:
        lines.pop()
    return lines


def symbol_needles(symbols: Iterable[str]) -> list[bytes]:
    """Byte strings of which a line naming one of ``symbols`` contains at least one.

    The symbol as a JSON string, wherever it stands (another writer may put a space after
    the colon, or order keys otherwise), and any ``\\u`` escape (a writer may spell a digit
    ``\\u0030``). A line may hold a needle and name another symbol: the decoded record is
    checked exactly afterwards; what matters is that no line naming a wanted symbol is
    passed over.
    """
    return [ENCODER.encode(s) for s in sorted(symbols)] + [b"\\u"]


def _lines_with(text: bytes, needles: list[bytes], line_base: int) -> list[tuple[int, bytes]]:
    """``(line number, line)`` of the lines of ``text`` containing any needle, in order.

    Searching the whole frame for the needle and cutting out its line beats splitting the
    frame into lines when few lines match (one symbol of a day).
    """
    starts: set[int] = set()
    find = text.find
    for needle in needles:
        pos = find(needle)
        while pos >= 0:
            start = text.rfind(b"\n", 0, pos) + 1
            starts.add(start)
            end = find(b"\n", pos)
            if end < 0:
                break
            pos = find(needle, end)
    out = []
    number = line_base + 1
    previous = 0
    for start in sorted(starts):
        number += text.count(b"\n", previous, start)
        previous = start
        end = find(b"\n", start)
        out.append((number, text[start:] if end < 0 else text[start:end]))
    return out


def open_archive(root: Path | str, *, skip_corrupt: bool = False) -> ArchiveReader:
    """An ``ArchiveReader`` on ``root``."""
    return ArchiveReader(root, skip_corrupt=skip_corrupt)
