"""Rederive: re-run the projection over the raw journal and compare with the archive.

The raw journal is the source of truth; snapshots and ledger entries are its deterministic
projection (shared/DESIGN.md, "Event sourcing"). ``rederive`` checks that claim on disk,
per trading day:

1. the day's journal in journal order: every raw partition merged by ``seq``
   (``observer.collect.read_journal``, what a resumed run replays);
2. projected by the *same* code the live collector runs: ``observer.collect.project_journal``
   (``Projector`` + ``pipeline.Pipeline``), with a fresh projection per day as ``observer
   run`` has; the projection is a parameter so the comparison can be tested on its own;
3. written with the real ``archive.ArchiveWriter`` (raw events copied, snapshots and ledger
   entries as projected) into ``output``, or a temporary root;
4. compared partition by partition, line by line, byte for byte: the archive's stored lines
   (``archive.stored_lines``) against the rewritten ones. Ledger entries that recovery booked
   for a torn tail (``cycle_id`` ``recovery:…``) are not in the journal and are left out.

The first difference of each partition is kept (which record, which fields, both lines);
any difference makes ``observer rederive`` exit 1.

A day a live writer still writes (an open segment whose partition lock names a live
process, as ``observer verify`` tells) is skipped and listed in ``live_days``: its derived
records land a moment after the journal's, so a comparison would show differences that
are only records on their way to the disk.

Days are independent (each has its own journal, projection and partitions), so with
``jobs > 1`` they are derived and compared in worker processes, several at once, into the
same target root (one writer per day; each holds only its own day's partition locks). The
result is merged in day order: the same result, the same output, whatever ``jobs`` is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import multiprocessing
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from archive import ArchiveError, ArchiveReader, ArchiveWriter, Family, Partition, stored_lines
from pipeline import DECODE_ERRORS, LedgerEntry, ObservationSnapshot, PipelineConfig, RawEvent

from ._errors import AnalystError, ProjectionFailedError

__all__ = [
    "Difference",
    "JournalProjection",
    "Projection",
    "RederiveResult",
    "default_projection",
    "rederive",
]

Projection = Callable[[Iterable[RawEvent]], Iterable[ObservationSnapshot | LedgerEntry]]

_RECOVERY_PREFIX = "recovery:"


@dataclasses.dataclass(frozen=True, slots=True)
class Difference:
    """The first place where one partition's archive and its re-derivation differ."""

    partition: str
    record: int  # 1-based position in the partition, in seq order
    archived: bytes | None  # the stored line (None: the archive has fewer records)
    derived: bytes | None  # the re-derived line (None: the projection made fewer records)
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (path, archived, derived), first few
    count: int = 1  # records that differ in this partition
    note: str = ""  # what the archive says about it (a torn tail cut by recovery)

    def describe(self) -> str:
        """One paragraph for a terminal: where, what, and both lines (cut)."""
        if self.archived is None:
            what = "the projection made more records than the archive holds"
        elif self.derived is None:
            what = "the archive holds more records than the projection made"
        elif self.fields:
            what = "; ".join(f"{p}: archived {a!r}, derived {d!r}" for p, a, d in self.fields)
        else:
            what = "same values, different bytes"
        lines = [f"{self.partition}: record {self.record} differs ({self.count} in all): {what}"]
        if self.note:
            lines.append(f"  note: {self.note}")
        for label, line in (("archived", self.archived), ("derived ", self.derived)):
            if line is not None:
                text = line.decode("utf-8", "replace")
                lines.append(f"  {label}: {text[:300]}{' …' if len(text) > 300 else ''}")
        return "\n".join(lines)


@dataclasses.dataclass(slots=True)
class RederiveResult:
    """What was re-derived and every partition that differs (its first difference)."""

    days: list[dt.date] = dataclasses.field(default_factory=list)
    raw_events: int = 0
    compared: dict[str, int] = dataclasses.field(default_factory=dict)  # partition → records
    differences: list[Difference] = dataclasses.field(default_factory=list)
    recovery_entries: int = 0  # ledger entries booked by recovery, not in the journal
    days_without_journal: list[dt.date] = dataclasses.field(default_factory=list)
    live_days: dict[dt.date, int] = dataclasses.field(default_factory=dict)  # day → pid

    @property
    def identical(self) -> bool:
        return not self.differences and not self.days_without_journal


@dataclasses.dataclass(frozen=True, slots=True)
class JournalProjection:
    """The live collector's projection (``observer.collect.project_journal``) of one day.

    The environment (which the scalp book stamps on snapshots) is the journal's own, and so
    are the stage settings: every cycle start journals the config it ran with. ``config``
    replaces them throughout (what would this config have derived?); a journal written
    before cycle starts named their config is derived with ``config`` or the built-in one.
    A plain value (it pickles), so worker processes can run it.
    """

    config: PipelineConfig | None = None

    def __call__(self, events: Iterable[RawEvent]) -> Iterator[ObservationSnapshot | LedgerEntry]:
        from observer.collect import project_journal

        stream = iter(events)
        first = next(stream, None)
        if first is None:
            return
        yield from project_journal(
            itertools.chain([first], stream),
            config=self.config,
            environment=first.environment,
            pinned=self.config is not None,
        )


def default_projection(config: PipelineConfig | None = None) -> Projection:
    """``JournalProjection(config)``: what ``observer run`` derives (see there)."""
    return JournalProjection(config)


def _journal(reader: ArchiveReader, day: dt.date) -> Iterator[RawEvent]:
    from observer.collect import read_journal

    yield from read_journal(reader.root, day)


def rederive(
    root: Path | str,
    *,
    project: Projection | None = None,
    dates: Iterable[dt.date] | None = None,
    output: Path | str | None = None,
    jobs: int = 1,
) -> RederiveResult:
    """Re-derive ``root``'s snapshots and ledger from its raw journal and compare them.

    ``project`` maps one day's journal to its records (default: ``default_projection()``).
    With ``output`` the re-derived archive is kept there (a new, empty directory);
    otherwise it goes to a temporary directory that is removed afterwards. ``jobs``: days
    derived at once, in worker processes (when there are several days and ``project``
    pickles; otherwise one after the other here).
    """
    if jobs < 1:
        raise AnalystError(f"jobs must be at least 1, got {jobs}")
    root = Path(root)
    project = project or default_projection()
    reader = ArchiveReader(root)
    raw_days = sorted({p.date for p in reader.partitions(Family.RAW, dates=dates)})
    derived_days = {
        p.date
        for family in (Family.SNAPSHOTS, Family.LEDGER)
        for p in reader.partitions(family, dates=dates)
    }
    live = {
        day: pid
        for day in sorted(set(raw_days) | derived_days)
        if (pid := _live_writer_of(root, day)) is not None
    }
    raw_days = [day for day in raw_days if day not in live]
    result = RederiveResult(
        days=raw_days,
        days_without_journal=sorted(derived_days - set(raw_days) - set(live)),
        live_days=live,
    )
    if output is not None:
        target = Path(output)
        if target.exists() and not target.is_dir():
            raise AnalystError(f"{target}: --output must be a new or empty directory, not a file")
        if target.exists() and any(target.iterdir()):
            raise AnalystError(f"{target}: --output must be a new or empty directory")
        _derive_and_compare(reader, raw_days, project, target, result, jobs)
    else:
        with tempfile.TemporaryDirectory(prefix="observer-rederive-") as tmp:
            _derive_and_compare(reader, raw_days, project, Path(tmp), result, jobs)
    return result


def _live_writer_of(root: Path, day: dt.date) -> int | None:
    """The pid of a live writer still writing ``day`` (an open segment, its lock held)."""
    from ._verify import live_writer

    for family in Family:
        base = root / family.value / f"date={day.isoformat()}"
        for segment in sorted(base.glob("mode=*/source=*/*.jsonl.zst.open")):
            pid = live_writer(segment.parent / ".lock")
            if pid is not None:
                return pid
    return None


def _derive_and_compare(
    reader: ArchiveReader,
    days: list[dt.date],
    project: Projection,
    target: Path,
    result: RederiveResult,
    jobs: int,
) -> None:
    parts: Iterable[RederiveResult]
    if jobs > 1 and len(days) > 1 and _pickles(project):
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(days)),
            # a fresh interpreter: forking a parent with threads (a writer's, a library's)
            # can copy a lock held by one of them
            mp_context=multiprocessing.get_context("spawn"),
        ) as pool:
            parts = pool.map(
                _derive_day_at,
                itertools.repeat(reader.root),
                days,
                itertools.repeat(project),
                itertools.repeat(target),
            )
            for part in parts:  # in day order, as they come
                _merge(result, part)
    else:
        for day in days:
            _merge(result, _derive_day(reader, day, project, target))


def _pickles(project: Projection) -> bool:
    try:
        pickle.dumps(project)
    except Exception:  # a closure or a lambda: derive here, one day after the other
        return False
    return True


def _merge(result: RederiveResult, part: RederiveResult) -> None:
    result.raw_events += part.raw_events
    result.compared.update(part.compared)
    result.differences.extend(part.differences)
    result.recovery_entries += part.recovery_entries


def _derive_day_at(root: Path, day: dt.date, project: Projection, target: Path) -> RederiveResult:
    """``_derive_day`` in a worker process."""
    return _derive_day(ArchiveReader(root), day, project, target)


def _derive_day(
    reader: ArchiveReader, day: dt.date, project: Projection, target: Path
) -> RederiveResult:
    """Derive one day into ``target`` and compare its partitions with the archive's."""
    result = RederiveResult(days=[day])
    # A frozen clock: frames are cut by flush() only, so the bytes do not depend on timing.
    with ArchiveWriter(target, clock=lambda: 0.0) as writer:
        fed: list[RawEvent] = []
        try:
            for record in project(_copied(_journal(reader, day), writer, result, fed)):
                writer.append(record)
        except (ArchiveError, AnalystError):
            raise
        except Exception as exc:  # the projection's own bug: say where it broke
            where = (
                f"raw event seq {fed[-1].seq} ({type(fed[-1]).__name__})"
                if fed
                else ("its first event")
            )
            raise ProjectionFailedError(
                f"{day}: the projection failed at {where}: {type(exc).__name__}: {exc}"
            ) from exc
        writer.flush()
    derived = ArchiveReader(target)
    for family in (Family.SNAPSHOTS, Family.LEDGER):
        mine = set(reader.partitions(family, dates=[day]))
        theirs = set(derived.partitions(family, dates=[day]))
        for partition in sorted(mine | theirs, key=lambda p: (p.date, p.mode, p.source)):
            _compare(reader, derived, partition, partition in mine, partition in theirs, result)
    return result


def _copied(
    events: Iterable[RawEvent], writer: ArchiveWriter, result: RederiveResult, fed: list[RawEvent]
) -> Iterator[RawEvent]:
    for event in events:
        writer.append(event)
        result.raw_events += 1
        fed[:] = [event]
        yield event


def _archived_lines(
    reader: ArchiveReader, partition: Partition, result: RederiveResult
) -> Iterator[bytes]:
    for line, record in stored_lines(reader, partition):
        if partition.family is Family.LEDGER and record.cycle_id.startswith(_RECOVERY_PREFIX):
            result.recovery_entries += 1
            continue
        yield line


def _compare(
    reader: ArchiveReader,
    derived: ArchiveReader,
    partition: Partition,
    in_archive: bool,
    in_derived: bool,
    result: RederiveResult,
) -> None:
    ours: Iterable[bytes] = _archived_lines(reader, partition, result) if in_archive else ()
    theirs: Iterable[bytes] = (
        (line for line, _ in stored_lines(derived, partition)) if in_derived else ()
    )
    first: Difference | None = None
    count = 0
    n = 0
    for n, (a, b) in enumerate(itertools.zip_longest(ours, theirs), start=1):
        if a == b:
            continue
        count += 1
        if first is None:
            first = Difference(str(partition), n, a, b, _field_diffs(a, b))
    result.compared[str(partition)] = n
    if first is not None:
        result.differences.append(
            dataclasses.replace(first, count=count, note=_torn_note(reader, partition))
        )


def _torn_note(reader: ArchiveReader, partition: Partition) -> str:
    """Say so when recovery cut a torn tail in this partition (its loss is in the ledger)."""
    if not reader.partitions(
        partition.family, dates=[partition.date], mode=partition.mode, source=partition.source
    ):
        return ""
    torn = [
        m
        for m in reader.manifests(
            partition.family, dates=[partition.date], mode=partition.mode, source=partition.source
        )
        if m.sealed_by == "recovery" and m.torn_tail_bytes
    ]
    if not torn:
        return ""
    lines = sum(m.torn_tail_lines for m in torn)
    return (
        f"recovery cut {len(torn)} torn tail(s) here (~{lines} records after a crash, booked "
        "as torn_tail loss): records the journal still holds are missing from this archive"
    )


def _field_diffs(
    a: bytes | None, b: bytes | None, limit: int = 5
) -> tuple[tuple[str, Any, Any], ...]:
    if a is None or b is None:
        return ()
    try:
        left, right = msgspec.json.decode(a), msgspec.json.decode(b)
    except DECODE_ERRORS:
        return ()
    out: list[tuple[str, Any, Any]] = []
    _walk("$", left, right, out, limit)
    return tuple(out)


def _walk(path: str, a: Any, b: Any, out: list[tuple[str, Any, Any]], limit: int) -> None:
    if len(out) >= limit or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            _walk(f"{path}.{key}", a.get(key), b.get(key), out, limit)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(f"{path}[{i}]", x, y, out, limit)
        return
    out.append((path, a, b))
