"""Verify: every segment of an archive checked against its manifest and its neighbours.

For every partition of every family (``snapshots``, ``raw``, ``ledger``):

- each sealed segment against its manifest: the file's sha256 and size
  (``archive.verify_segment``), the file name's seqs, the record count, the first and last
  seq and times, the schema version; every frame decompresses and every line decodes;
  every record belongs to the partition (trading day, mode, source);
- seq order: strictly increasing inside a segment and across the segments of a partition
  (an overlap is a problem). Snapshot seqs are numbered 1, 2, … per partition, so a hole
  between two segments is a problem too, unless the earlier segment was sealed by recovery
  after a torn tail (the loss is booked in the ledger: a note), and so is a partition whose
  first seq is not 1, unless a recovery ledger entry books a torn segment of it. Raw seqs
  come from one journal counter shared by all raw partitions of a day, and a ledger entry
  carries the raw seq of the ``CycleEnded`` event that closed its cycle, so holes there are
  normal;
- the journal's numbering: one counter numbers a day's raw events across all its raw
  partitions, so together they hold every seq from 1 to the last, except the seqs that
  recovery's torn-tail ledger entries took (a resumed journal numbers on above them). A seq
  missing from all of them is a journaled event lost before it reached the disk (a crash
  between two raw partitions' frames): a problem, since the observations it carried may sit
  in no ledger bucket. Days a live writer still writes are not checked (its frames land
  one partition at a time), nor days with a raw segment verify cannot read (its seqs are
  unknown: a note says so, beside the segment's own problem);
- the journal's cycles against the ledger: every cycle a sealed day's journal started (or
  ended) has a ledger entry. A cycle started and never ended, with no entry, is a crash the
  day was never resumed from: its expected observations are in no ledger bucket (a
  problem; ``observer run`` on that day resumes the journal and books them ``missed``). A
  cycle ended with no entry lost its entry after the fact (a problem). Days a live writer
  still writes are not checked (its cycles are under way);
- the ledger against the snapshots: per cycle, the snapshots archived under its id (in any
  source: a scalp cycle's REST fallbacks too) number what its entries say ``archived``. Fewer
  is a problem (a segment deleted or lost), unless recovery cut a torn snapshot tail that
  day (booked as loss: a note); more is a problem (records no ledger counted). Days a live
  writer still writes are not checked. A day with a segment verify cannot read has the
  cross-checks that depend on it skipped, with a note (what it holds is unknown);
- time order: the raw journal's receive times and the ledger's cycle end times go forward
  within a partition. An event is stamped when it arrives and journaled a moment later, by
  whichever task got it (a socket frame can land just after a scalp strike stamped later),
  so small steps back are normal and reported as a note; a step back of more than
  ``max_skew`` (60 s) is a problem (records from elsewhere, a clock jump). Snapshot times
  need not be monotonic at all (a swing response carries each symbol's last trade time);
- open segments (``.jsonl.zst.open``) are reported with what is readable and whether a
  live writer holds them; torn tails cut by recovery are reported from their manifests;
- files that do not belong (a data file without a manifest, a manifest without data, a
  stray name) are reported.

Problems make ``observer verify`` exit 1; notes are information. Each finding names a file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from archive import (
    ArchiveError,
    ArchiveReader,
    Family,
    ManifestMismatchError,
    Partition,
    SegmentManifest,
    compaction_cut,
    verify_segment,
)
from pipeline import CycleEnded, CycleStarted, ScalpStruck

__all__ = ["Finding", "VerifyResult", "verify_archive"]

_DATA = ".jsonl.zst"
_OPEN = ".jsonl.zst.open"
_MANIFEST = ".manifest.json"


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One thing verify found: a ``problem`` (exit 1) or a ``note``, naming a file."""

    level: Literal["problem", "note"]
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.message}"


@dataclasses.dataclass(slots=True)
class VerifyResult:
    """Everything verify checked and found."""

    partitions: int = 0
    sealed_segments: int = 0
    open_segments: int = 0
    records: int = 0
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "problem"]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "note"]

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, path: Path | str, message: str) -> None:
        self.findings.append(Finding("problem", str(path), message))

    def note(self, path: Path | str, message: str) -> None:
        self.findings.append(Finding("note", str(path), message))


def _parse_name(name: str) -> tuple[int, int | None, str] | None:
    """``(first_seq, last_seq or None, suffix)`` of a segment or manifest file name."""
    for suffix in (_OPEN, _DATA, _MANIFEST):
        if name.startswith("part-") and name.endswith(suffix):
            body = name[len("part-") : -len(suffix)]
            parts = body.split("-")
            if not all(p.isdigit() and len(p) >= 12 for p in parts):
                return None
            if suffix == _OPEN and len(parts) == 1:
                return int(parts[0]), None, suffix
            if suffix != _OPEN and len(parts) == 2:
                return int(parts[0]), int(parts[1]), suffix
            return None
    return None


def verify_archive(
    root: Path | str,
    *,
    dates: Iterable[dt.date] | None = None,
    families: Iterable[Family] = tuple(Family),
    max_skew: dt.timedelta = dt.timedelta(seconds=60),
) -> VerifyResult:
    """Check every partition of ``families`` under ``root`` (on ``dates`` when given).

    ``max_skew``: how far a journal's receive time (a ledger's cycle end) may step back
    before it is a problem rather than a note (see the module doc).
    """
    root = Path(root)
    families = tuple(families)
    wanted = None if dates is None else set(dates)
    result = VerifyResult()
    numbering = _Numbering()
    for family in families:
        base = root / family.value
        if not base.is_dir():
            continue
        for directory in sorted(p for p in base.glob("date=*/mode=*/source=*") if p.is_dir()):
            try:
                partition = Partition.from_dir(root, directory)
            except ValueError as exc:
                result.problem(directory, f"not a partition directory: {exc}")
                continue
            if wanted is not None and partition.date not in wanted:
                continue
            result.partitions += 1
            _verify_partition(root, partition, directory, result, max_skew, numbering)
    numbering.check(root, result)
    if Family.SNAPSHOTS in families:
        numbering.check_first_seqs(result)
    if {Family.RAW, Family.LEDGER} <= set(families):
        numbering.check_cycles(root, result)
    if {Family.SNAPSHOTS, Family.LEDGER} <= set(families):
        numbering.check_archived(root, result)
    return result


@dataclasses.dataclass(slots=True)
class _Cycle:
    """A cycle as the journal tells it: where it was started, what it expected, its end."""

    mode: str
    source: str
    expected: int = 0
    started: bool = False
    ended: bool = False


class _Numbering:
    """What verify saw of each day across families, for the day-level cross-checks: the
    journal's seqs and cycles, the ledger's entries, the snapshots per cycle."""

    def __init__(self) -> None:
        self.raw: dict[dt.date, bytearray] = {}  # seq → 1 when a raw event has it
        self.booked: dict[dt.date, set[int]] = {}  # seqs torn-tail ledger entries took
        self.live: set[dt.date] = set()
        self.crashed: set[dt.date] = set()  # days a crash left open segments of
        self.cycles: dict[dt.date, dict[str, _Cycle]] = {}  # the journal's cycles by id
        self.entries: dict[dt.date, set[str]] = {}  # cycle ids the ledger has entries for
        self.snapshots: dict[dt.date, dict[str, int]] = {}  # snapshots archived by cycle id
        self.archived: dict[dt.date, dict[str, tuple[str, str, int]]] = {}  # ledger's claim
        self.torn: dict[dt.date, set[str]] = {}  # partitions recovery booked torn tails of
        self.first_seq: list[tuple[Partition, Path, int]] = []  # snapshot partitions not at 1
        self.damaged: dict[tuple[dt.date, Family], Path] = {}  # a segment verify could not read

    def damage(self, partition: Partition, path: Path) -> None:
        """A segment of ``partition`` could not be read whole: what it holds is unknown."""
        self.damaged.setdefault((partition.date, partition.family), path)

    def unchecked(
        self,
        root: Path,
        result: VerifyResult,
        day: dt.date,
        families: tuple[Family, ...],
        what: str,
    ) -> bool:
        """Whether a segment of ``families`` on ``day`` is damaged: then ``what`` is not
        checked (it would blame the loss on something else), and a note says so."""
        for family in families:
            path = self.damaged.get((day, family))
            if path is not None:
                result.note(
                    root / family.value / f"date={day.isoformat()}",
                    f"{what} not checked: {path.name} could not be read (see its problem); "
                    "what it holds is unknown",
                )
                return True
        return False

    def see(self, partition: Partition, record: Any) -> None:
        if partition.family is Family.RAW:
            marks = self.raw.setdefault(partition.date, bytearray())
            seq = record.seq
            if seq >= len(marks):
                marks.extend(bytes(seq + 1 - len(marks)))
            marks[seq] = 1
            if isinstance(record, CycleStarted | ScalpStruck | CycleEnded):
                cycles = self.cycles.setdefault(partition.date, {})
                cycle = cycles.get(record.cycle_id)
                if cycle is None:
                    cycle = cycles[record.cycle_id] = _Cycle(partition.mode, partition.source)
                if isinstance(record, CycleStarted):
                    cycle.started = True
                    cycle.mode, cycle.source = partition.mode, partition.source
                    cycle.expected += len(record.symbols)
                elif isinstance(record, ScalpStruck):
                    cycle.expected += len(record.symbols)
                else:
                    cycle.ended = True
        elif partition.family is Family.LEDGER:
            if record.cycle_id.startswith("recovery:"):
                self.booked.setdefault(partition.date, set()).add(record.seq)
                self.torn.setdefault(partition.date, set()).add(
                    record.cycle_id[len("recovery:") :].rpartition("/")[0]
                )
            else:
                self.entries.setdefault(partition.date, set()).add(record.cycle_id)
                claims = self.archived.setdefault(partition.date, {})
                _, _, n = claims.get(record.cycle_id, ("", "", 0))
                claims[record.cycle_id] = (partition.mode, partition.source, n + record.archived)
        else:
            counts = self.snapshots.setdefault(partition.date, {})
            counts[record.cycle_id] = counts.get(record.cycle_id, 0) + 1

    def check_first_seqs(self, result: VerifyResult) -> None:
        """A snapshot partition starting past seq 1 lost its first segment(s), unless
        recovery booked a torn segment of it (a note)."""
        for partition, path, first_seq in self.first_seq:
            message = f"the partition's first readable seq is {first_seq}, not 1"
            if str(partition) in self.torn.get(partition.date, set()):
                result.note(path, message + ": recovery cut a torn segment, booked as loss")
            else:
                result.problem(
                    path,
                    f"{message}: seqs 1..{first_seq - 1} are missing (a segment deleted or "
                    "lost), and no ledger entry books them",
                )

    def check_archived(self, root: Path, result: VerifyResult) -> None:
        """Per cycle, the snapshots present against what the ledger says was archived."""
        for day, claims in sorted(self.archived.items()):
            if day in self.live or self.unchecked(
                root,
                result,
                day,
                (Family.SNAPSHOTS, Family.LEDGER),
                "the snapshots against the ledger's archived counts",
            ):
                continue
            found = self.snapshots.get(day, {})
            short: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
            extra: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
            for cycle_id, (mode, source, archived) in sorted(claims.items()):
                have = found.get(cycle_id, 0)
                if have != archived:
                    into = short if have < archived else extra
                    into.setdefault((mode, source), []).append((cycle_id, archived, have))
            torn = any(p.startswith(Family.SNAPSHOTS.value + "/") for p in self.torn.get(day, ()))
            for (mode, source), items in sorted(short.items()):
                path = Partition(Family.SNAPSHOTS, day, mode, source).dir(root)
                message = (
                    f"{_claims(items)}: fewer snapshots in the archive than the ledger says "
                    "it archived"
                )
                if day in self.crashed:
                    result.problem(
                        path,
                        message + f": a crash left open segments that day, their tails cut "
                        f"(`observer run` on {day} recovers them and restores from the journal "
                        "what they lost)",
                    )
                elif torn:
                    result.note(
                        path,
                        message + "; recovery cut torn snapshot tails that day, booked as loss",
                    )
                else:
                    result.problem(path, message + " (a snapshot segment deleted or lost)")
            for (mode, source), items in sorted(extra.items()):
                result.problem(
                    Partition(Family.SNAPSHOTS, day, mode, source).dir(root),
                    f"{_claims(items)}: more snapshots in the archive than the ledger says "
                    "it archived (records no entry counts)",
                )

    def check_cycles(self, root: Path, result: VerifyResult) -> None:
        """Every cycle a sealed day's journal started or ended has a ledger entry."""
        for day, cycles in sorted(self.cycles.items()):
            if day in self.live or self.unchecked(
                root,
                result,
                day,
                (Family.RAW, Family.LEDGER),
                "the journal's cycles against the ledger",
            ):
                continue
            booked = self.entries.get(day, set())
            crashed: dict[tuple[str, str], list[tuple[str, _Cycle]]] = {}
            unbooked: dict[tuple[str, str], list[tuple[str, _Cycle]]] = {}
            for cycle_id, cycle in cycles.items():
                if cycle_id in booked:
                    continue
                into = unbooked if cycle.ended else crashed
                into.setdefault((cycle.mode, cycle.source), []).append((cycle_id, cycle))
            for (mode, source), items in sorted(crashed.items()):
                result.problem(
                    Partition(Family.RAW, day, mode, source).dir(root),
                    f"the journal started {_cycles(items)} and never ended them, and no "
                    "ledger entry books them: a crash the day was never resumed from (the "
                    f"observations are in no ledger bucket); `observer run` on {day} "
                    "resumes the journal and books them missed",
                )
            for (mode, source), items in sorted(unbooked.items()):
                result.problem(
                    Partition(Family.RAW, day, mode, source).dir(root),
                    f"the journal ended {_cycles(items)}, and no ledger entry books them: "
                    "their accounting is missing from the archive",
                )

    def check(self, root: Path, result: VerifyResult) -> None:
        for day, marks in sorted(self.raw.items()):
            if day in self.live or self.unchecked(
                root, result, day, (Family.RAW,), "the journal's numbering"
            ):
                continue
            for seq in self.booked.get(day, ()):
                if seq < len(marks):
                    marks[seq] = 1
            marks[0] = 1  # (seqs start at 1)
            gaps: list[tuple[int, int]] = []
            at = marks.find(0)
            while at >= 0:
                end = marks.find(1, at)
                end = len(marks) if end < 0 else end
                gaps.append((at, end - 1))
                at = marks.find(0, end)
            if gaps:
                missing = sum(b - a + 1 for a, b in gaps)
                shown = ", ".join(f"{a}..{b}" if a != b else f"{a}" for a, b in gaps[:10])
                more = f" and {len(gaps) - 10} more" if len(gaps) > 10 else ""
                result.problem(
                    root / Family.RAW.value / f"date={day.isoformat()}",
                    f"the journal misses {missing} seq(s) of its numbering ({shown}{more}): "
                    "events lost before they reached the disk; the observations they "
                    "carried may be in no ledger bucket",
                )


def _verify_partition(
    root: Path,
    partition: Partition,
    directory: Path,
    result: VerifyResult,
    max_skew: dt.timedelta,
    numbering: _Numbering,
) -> None:
    data: dict[int, Path] = {}
    manifests: dict[int, Path] = {}
    opened: dict[int, Path] = {}
    try:
        listing = sorted(directory.iterdir())
    except OSError as exc:
        result.problem(directory, f"cannot list partition: {exc.strerror or exc}")
        return
    for path in listing:
        name = path.name
        if name == ".lock":
            continue
        if name.startswith("."):
            result.note(
                path,
                "temporary file left by an interrupted write or compaction"
                if name.endswith(".tmp")
                else "hidden file: not part of the archive",
            )
            continue
        parsed = _parse_name(name)
        if parsed is None:
            result.problem(path, "stray file: not a segment or manifest name")
            continue
        first, _, suffix = parsed
        if suffix != _MANIFEST and first in data.keys() | opened.keys():
            other = data.get(first) or opened[first]
            result.problem(
                path,
                f"starts at seq {first} like {other.name}: two data files for one segment "
                "(readers read both: records twice)",
            )
            continue
        {_DATA: data, _MANIFEST: manifests, _OPEN: opened}[suffix][first] = path
    for first, path in manifests.items():
        if first not in data:
            result.problem(path, "manifest without its data file")
            numbering.damage(partition, path)
    reader = ArchiveReader(root)
    clock = _CLOCK.get(partition.family)
    previous: tuple[SegmentManifest, Path] | None = None
    unknown = False  # a segment before this one could not be checked: its seqs are unknown
    last_time: dt.datetime | None = None
    for first in sorted(set(data) | set(opened)):
        if first in data:
            path = data[first]
            if first not in manifests:
                result.problem(path, "sealed segment without a manifest")
                numbering.damage(partition, path)
                previous, unknown = None, True
                continue
            result.sealed_segments += 1
            checked = _verify_sealed(
                reader, partition, path, result, clock, last_time, max_skew, numbering
            )
            if checked is None:
                numbering.damage(partition, path)
                previous, unknown = None, True
                continue
            manifest, last_time = checked
            if not unknown:  # (no claim of missing seqs across a segment that was not read)
                _check_continuity(partition, previous, manifest, path, result, numbering)
            previous, unknown = (manifest, path), False
        else:
            result.open_segments += 1
            _report_open(reader, partition, opened[first], result, numbering)


_CLOCK: dict[Family, str] = {Family.RAW: "receive_time", Family.LEDGER: "ended_at"}


def _verify_sealed(
    reader: ArchiveReader,
    partition: Partition,
    path: Path,
    result: VerifyResult,
    clock: str | None,
    last_time: dt.datetime | None,
    max_skew: dt.timedelta,
    numbering: _Numbering,
) -> tuple[SegmentManifest, dt.datetime | None] | None:
    try:
        manifest = verify_segment(path)
    except ArchiveError as exc:
        message = _strip(exc, path)
        if isinstance(exc, ManifestMismatchError) and compaction_cut(path):
            message += (
                "; a compaction was cut short between its renames (this file is the intact "
                "data before it, the manifest describes the recompressed file beside it): run "
                f"`observer compact {path.parents[4]} --date {partition.date}` to finish it"
            )
        result.problem(path, message)
        return None
    parsed = _parse_name(path.name)
    assert parsed is not None  # listed as a sealed data file above

    def problem(message: str) -> None:
        result.problem(path, message)

    if manifest.partition != partition:
        problem(f"manifest says partition {manifest.partition}, the file lies in {partition}")
    if (parsed[0], parsed[1]) != (manifest.first_seq, manifest.last_seq):
        problem(
            f"file name says seqs {parsed[0]}..{parsed[1]}, manifest "
            f"{manifest.first_seq}..{manifest.last_seq}"
        )
    count = 0
    first: Any = None
    last: Any = None
    prev_seq: int | None = None
    max_version = 0
    time_regressions = 0
    worst = dt.timedelta(0)
    worst_at = ""
    try:
        for record in reader.segment_records(path):
            count += 1
            numbering.see(partition, record)
            if first is None:
                first = record
            last = record
            if prev_seq is not None and record.seq <= prev_seq:
                problem(f"seq {record.seq} after {prev_seq} at record {count}: not increasing")
            prev_seq = record.seq
            max_version = max(max_version, record.schema_version)
            if (record.trading_day, str(record.mode), str(record.source)) != (
                partition.date,
                partition.mode,
                partition.source,
            ):
                problem(
                    f"record seq {record.seq} is for {record.trading_day} {record.mode} "
                    f"{record.source}, not this partition"
                )
            if clock is not None:
                t = getattr(record, clock)
                if last_time is not None and t < last_time:
                    time_regressions += 1
                    if last_time - t > worst:
                        worst = last_time - t
                        worst_at = (
                            f"seq {record.seq} at {t.isoformat()} after {last_time.isoformat()}"
                        )
                last_time = t if last_time is None else max(last_time, t)
    except ArchiveError as exc:
        result.problem(path, _strip(exc, path))
        return None
    result.records += count
    if time_regressions:
        message = (
            f"{clock} goes backwards {time_regressions} time(s), at most by "
            f"{_span(worst)} ({worst_at})"
        )
        if worst > max_skew:
            problem(f"{message}: more than the {max_skew.total_seconds():g} s a journal may skew")
        else:
            result.note(
                path,
                f"{message}: events stamped on receipt and journaled a moment later by "
                "another task; journal (seq) order is what the projection follows",
            )
    if count != manifest.record_count:
        problem(f"{count} records, manifest says {manifest.record_count}")
    if first is not None and (first.seq, last.seq) != (manifest.first_seq, manifest.last_seq):
        problem(
            f"records run seq {first.seq}..{last.seq}, manifest says "
            f"{manifest.first_seq}..{manifest.last_seq}"
        )
    if max_version != manifest.schema_version:
        problem(
            f"records are schema version {max_version}, manifest says {manifest.schema_version}"
        )
    if first is not None:
        for field, record in (("first", first), ("last", last)):
            for kind in ("exchange", "receive"):
                stated = getattr(manifest, f"{field}_{kind}_time")
                actual = getattr(record, f"{kind}_time", None)
                if stated != actual:
                    problem(f"{field} {kind} time is {actual}, manifest says {stated}")
    if manifest.sealed_by == "recovery" and manifest.torn_tail_bytes:
        result.note(
            path,
            f"sealed by recovery: a torn tail of {manifest.torn_tail_bytes} bytes "
            f"(~{manifest.torn_tail_lines} records) was cut after seq {manifest.last_seq}",
        )
    return manifest, last_time


def _check_continuity(
    partition: Partition,
    previous: tuple[SegmentManifest, Path] | None,
    manifest: SegmentManifest,
    path: Path,
    result: VerifyResult,
    numbering: _Numbering,
) -> None:
    numbered = partition.family is Family.SNAPSHOTS
    if previous is None:
        if numbered and manifest.first_seq != 1:  # (decided once the ledger is read)
            numbering.first_seq.append((partition, path, manifest.first_seq))
        return
    before, before_path = previous
    if manifest.first_seq <= before.last_seq:
        result.problem(
            path,
            f"seqs {manifest.first_seq}..{manifest.last_seq} overlap {before_path.name} "
            f"(which ends at {before.last_seq})",
        )
        return
    if numbered and manifest.first_seq != before.last_seq + 1:
        missing = manifest.first_seq - before.last_seq - 1
        message = (
            f"{missing} seq(s) missing between {before_path.name} and this segment "
            f"({before.last_seq + 1}..{manifest.first_seq - 1})"
        )
        if before.sealed_by == "recovery" and before.torn_tail_bytes:
            result.note(path, message + ": the torn tail recovery cut, booked as loss")
        else:
            result.problem(path, message)


def _report_open(
    reader: ArchiveReader,
    partition: Partition,
    path: Path,
    result: VerifyResult,
    numbering: _Numbering,
) -> None:
    before = reader.report.open_tail_bytes
    records = 0
    try:
        for record in reader.segment_records(path):
            records += 1
            numbering.see(partition, record)
    except ArchiveError as exc:
        result.problem(path, f"open segment: {_strip(exc, path)}")
        numbering.damage(partition, path)
        return
    tail = reader.report.open_tail_bytes - before
    holder = live_writer(path.parent / ".lock")
    if holder is not None:
        numbering.live.add(partition.date)
    else:
        numbering.crashed.add(partition.date)
    who = (
        f"held by a live writer (pid {holder})"
        if holder is not None
        else "no live writer: a crash left it; the next writer recovers it"
    )
    torn = f", {tail} bytes of torn tail" if tail else ""
    result.note(path, f"open segment: {records} records in complete frames{torn}; {who}")


def live_writer(lock: Path) -> int | None:
    """The pid written in a partition lock file if that process is alive (never locks)."""
    try:
        pid = int(lock.read_text().strip() or "0")
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _claims(items: list[tuple[str, int, int]]) -> str:
    """``2 cycle(s) (a: 300 archived, 0 found; …)``, the first few named."""
    shown = "; ".join(f"{c}: {a} archived, {h} found" for c, a, h in items[:5])
    more = f"; and {len(items) - 5} more" if len(items) > 5 else ""
    return f"{len(items)} cycle(s) ({shown}{more})"


def _cycles(items: list[tuple[str, _Cycle]]) -> str:
    """``2 cycle(s) (a, b; 360 expected observations)``, the first few ids named."""
    ids = sorted(cycle_id for cycle_id, _ in items)
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    expected = sum(cycle.expected for _, cycle in items)
    return f"{len(ids)} cycle(s) ({shown}; {expected} expected observations)"


def _strip(exc: BaseException, path: Path) -> str:
    """The error message without the path prefix (the finding names the file already)."""
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _span(step: dt.timedelta) -> str:
    """A step back in time, readable at its own scale: ``2.000 s``, ``3.12 ms``, ``316 µs``
    (a journal's usual skew is well under a millisecond: ``0.000 s`` said nothing)."""
    micros = step // dt.timedelta(microseconds=1)
    if micros >= 1_000_000:
        return f"{micros / 1_000_000:.3f} s"
    if micros >= 1_000:
        return f"{micros / 1_000:.3g} ms"
    return f"{micros} µs"
