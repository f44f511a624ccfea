"""Report: is a day complete? Loss, coverage, gaps, reconnects and latency per partition.

One row per (trading day, mode, source), or per symbol as well with ``by_symbol``:

- ``cycles``, ``expected``, ``archived``, ``deduplicated``, ``lost`` and ``loss_rate`` from
  the ledger (``pipeline.loss_rate``, the one definition), ``causes`` = the lost
  observations by reason: ``rejected:<reason>``, ``dropped:<reason>``, ``failed:<cause>``;
- ``snapshots`` archived (counted in the snapshot archive, so a ledger that disagrees with
  the archive shows);
- coverage by *receive* minute (KST, when we observed): ``span_minutes`` from the first
  cycle's start (or snapshot) to the last cycle's start (or snapshot), ``gaps`` = runs of
  minutes without any snapshot at least as long as the partition's cadence (the median step
  between covered minutes: 1 for scalp, 2–3 for swing),
  ``minutes_covered = span_minutes − minutes in gaps``, ``longest_gap_min``;
- ``reconnects``: WebSocket re-subscriptions seen in the raw journal (acks of the same
  subscription beyond the first; 0 for REST partitions or without a raw journal);
- latency, receive − exchange time, in ms: p50, p90, p99, max, over the snapshots that
  carry an exchange time of their own. REST price outputs (inquire-price, the multi-price
  list) carry none: the converter stamps their receive time as their exchange time, so a
  snapshot whose two times are one instant is left out (its "0 ms" says nothing), and a
  row with no other snapshot has no latency (``None``; ``n/a`` in the table);
- ``unbooked_cycles`` and ``unbooked_expected``: cycles the raw journal started (or ended)
  that no ledger entry books, and the observations they expected. A crash the day was
  never resumed from leaves them (``observer run`` on that day resumes the journal and
  books them); their loss is in no ledger figure, so each one is also a ``warnings`` line.
  Days a live writer still writes are left out (their cycles are under way).

Per symbol, ``expected`` comes from the raw journal's cycle and scalp events (what the
scheduler asked for), ``lost`` from the ledger's ``lost_by_symbol``, ``archived`` from the
snapshots; ``deduplicated`` is what remains. ``minutes`` holds, per partition, the
per-minute series the plot draws.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from archive import ArchiveReader, CorruptSpan, Family, query_snapshots
from pipeline import (
    DECODE_ERRORS,
    KST,
    CycleEnded,
    CycleStarted,
    Environment,
    FailureCause,
    LedgerEntry,
    Mode,
    ScalpStruck,
    Source,
    WsFrame,
    loss_count,
    loss_rate,
)

__all__ = ["MinuteSeries", "Report", "ReportRow", "build_report"]

Key = tuple[dt.date, str, str]


@dataclasses.dataclass(slots=True)
class ReportRow:
    """One line of the report (see the module doc for each figure)."""

    date: dt.date
    mode: str
    source: str
    symbol: str | None = None
    cycles: int = 0
    expected: int = 0
    archived: int = 0
    deduplicated: int = 0
    lost: int = 0
    loss_rate: float = 0.0
    causes: dict[str, int] = dataclasses.field(default_factory=dict)
    snapshots: int = 0
    span_minutes: int = 0
    minutes_covered: int = 0
    gaps: int = 0
    longest_gap_min: int = 0
    reconnects: int = 0
    unbooked_cycles: int = 0
    unbooked_expected: int = 0
    latency_ms_p50: float | None = None
    latency_ms_p90: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_max: float | None = None


@dataclasses.dataclass(slots=True)
class MinuteSeries:
    """Per KST minute of one partition's day: snapshots archived, observations expected/lost."""

    date: dt.date
    mode: str
    source: str
    snapshots: dict[int, int] = dataclasses.field(default_factory=dict)  # minute of day → n
    expected: dict[int, int] = dataclasses.field(default_factory=dict)
    lost: dict[int, dict[str, int]] = dataclasses.field(default_factory=dict)  # → cause → n


@dataclasses.dataclass(slots=True)
class Report:
    """The rows, the per-minute series for plots, any damage skipped while reading, and
    warnings: what the figures cannot show (cycles no ledger entry books)."""

    rows: list[ReportRow]
    minutes: list[MinuteSeries]
    skipped: list[CorruptSpan] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> bytes:
        return msgspec.json.format(
            msgspec.json.encode(
                {
                    "rows": self.rows,
                    "minutes": [
                        {
                            "date": m.date,
                            "mode": m.mode,
                            "source": m.source,
                            "by_minute": [
                                {
                                    "minute": _clock(minute),
                                    "snapshots": m.snapshots.get(minute, 0),
                                    "expected": m.expected.get(minute, 0),
                                    "lost": m.lost.get(minute, {}),
                                }
                                for minute in sorted(
                                    set(m.snapshots) | set(m.expected) | set(m.lost)
                                )
                            ],
                        }
                        for m in self.minutes
                    ],
                    "skipped": [dataclasses.asdict(s) for s in self.skipped],
                    "warnings": self.warnings,
                }
            )
        )


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minute(t: dt.datetime) -> int:
    local = t.astimezone(KST)
    return local.hour * 60 + local.minute


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, -(-len(sorted_values) * q // 100))
    return float(sorted_values[int(rank) - 1])


def _causes(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for e in entries:
        for prefix, counts in (
            ("rejected", e.rejected),
            ("dropped", e.dropped),
            ("failed", e.failed),
        ):
            for reason, n in counts.items():
                out[f"{prefix}:{reason}"] += n
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _cadence(covered: set[int], entries: Sequence[LedgerEntry]) -> int:
    """Minutes between observations by plan: the median gap between cycle starts (rounded
    up), or, without a ledger, the median step between covered minutes."""
    starts = sorted({e.started_at for e in entries})
    if len(starts) >= 2:
        steps_s = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        return max(1, math.ceil(statistics.median(steps_s) / 60))
    ordered = sorted(covered)
    steps = [b - a for a, b in itertools.pairwise(ordered)]
    return max(1, int(statistics.median(steps))) if steps else 1


def _gaps(covered: set[int], span: tuple[int, int], cadence: int) -> tuple[int, int, int]:
    """``(gaps, minutes in gaps, longest gap)`` of uncovered runs at least cadence long."""
    if not covered:
        length = span[1] - span[0] + 1
        return (1, length, length) if length > 0 else (0, 0, 0)
    gaps = missing = longest = 0
    run = 0
    for minute in range(span[0], span[1] + 1):
        if minute in covered:
            if run >= cadence:
                gaps += 1
                missing += run
                longest = max(longest, run)
            run = 0
        else:
            run += 1
    if run >= cadence:
        gaps += 1
        missing += run
        longest = max(longest, run)
    return gaps, missing, longest


def _reconnects(frames: Iterable[WsFrame]) -> int:
    acks: Counter[tuple[str, str]] = Counter()
    for frame in frames:
        text = frame.text
        if not text.startswith("{"):
            continue
        try:
            doc = msgspec.json.decode(text)
        except DECODE_ERRORS:
            continue
        header = doc.get("header") if isinstance(doc, dict) else None
        body = doc.get("body") if isinstance(doc, dict) else None
        if not isinstance(header, dict) or not isinstance(body, dict):
            continue
        if body.get("msg_cd") in ("OPSP0000", "OPSP0002"):
            acks[(str(header.get("tr_id")), str(header.get("tr_key")))] += 1
    return max(acks.values(), default=1) - 1


class _Acc:
    __slots__ = ("booked", "covered", "first", "last", "latencies", "snapshots")

    def __init__(self) -> None:
        self.snapshots = 0
        self.booked = 0  # of them, snapshots of cycles a ledger entry books
        self.latencies: list[float] = []
        self.covered: set[int] = set()
        self.first: int | None = None
        self.last: int | None = None

    def add(self, latency_ms: float | None, minute: int) -> None:
        self.snapshots += 1
        if latency_ms is not None:
            self.latencies.append(latency_ms)
        self.covered.add(minute)


def build_report(
    root: Path | str,
    *,
    dates: Sequence[dt.date] | None = None,
    mode: str | None = None,
    source: str | None = None,
    by_symbol: bool = False,
) -> Report:
    """Read ledger, snapshots and raw journal under ``root`` into a ``Report``."""
    reader = ArchiveReader(root, skip_corrupt=True)
    ledger: dict[Key, list[LedgerEntry]] = defaultdict(list)
    # A snapshot counts under its cycle's ledger row: a scalp cycle's REST fallbacks are
    # archived under source kis-rest but booked in the cycle's (kis-ws) ledger entry. So
    # every source's entries say where their cycles belong, whatever the source filter.
    cycle_key: dict[tuple[dt.date, str], Key] = {}
    for entry in reader.ledger(dates=dates, mode=mode):
        key = (entry.trading_day, str(entry.mode), str(entry.source))
        cycle_key[(entry.trading_day, entry.cycle_id)] = key
        if source is None or key[2] == source:
            ledger[key].append(entry)

    expected_by_symbol: Counter[tuple[dt.date, str, str, str]] = Counter()
    reconnects: dict[Key, int] = {}
    ws_frames: dict[Key, list[WsFrame]] = defaultdict(list)
    journaled: dict[tuple[dt.date, str], tuple[Key, int]] = {}  # cycle → (its key, expected)
    for event in reader.raw(dates=dates, mode=mode):
        if isinstance(event, WsFrame):
            if event.text.startswith("{"):
                ws_frames[(event.trading_day, str(event.mode), str(event.source))].append(event)
            continue
        if isinstance(event, CycleStarted | ScalpStruck | CycleEnded):
            at = (event.trading_day, event.cycle_id)
            own: Key = (event.trading_day, str(event.mode), str(event.source))
            key, expected = journaled.get(at, (own, 0))
            if isinstance(event, CycleStarted):
                key = own
            if not isinstance(event, CycleEnded):
                expected += len(event.symbols)
            journaled[at] = (key, expected)
        if by_symbol and isinstance(event, CycleStarted | ScalpStruck):
            day, ev_mode, ev_source = cycle_key.get(
                (event.trading_day, event.cycle_id),
                (event.trading_day, str(event.mode), str(event.source)),
            )
            if source is not None and ev_source != source:
                continue
            for symbol in event.symbols:
                expected_by_symbol[(day, ev_mode, ev_source, symbol)] += 1
    for key, frames in ws_frames.items():
        reconnects[key] = _reconnects(frames)
    unbooked = _unbooked(root, journaled, cycle_key, source)
    booked = set(cycle_key)
    for at, (key, _) in journaled.items():
        cycle_key.setdefault(at, key)

    query = query_snapshots(
        root, dates=dates, mode=mode, source=None if cycle_key else source, skip_corrupt=True
    )
    parts: dict[Key, _Acc] = defaultdict(_Acc)
    symbols: dict[tuple[dt.date, str, str, str], _Acc] = defaultdict(_Acc)
    series: dict[Key, MinuteSeries] = {}
    for snap in query:
        key = cycle_key.get((snap.trading_day, snap.cycle_id)) or (
            snap.trading_day,
            str(snap.mode),
            str(snap.source),
        )
        if source is not None and key[2] != source:
            continue
        latency: float | None = (
            None  # (no exchange time of its own: see the module doc)
            if snap.receive_time == snap.exchange_time
            else (snap.receive_time - snap.exchange_time) / dt.timedelta(milliseconds=1)
        )
        minute = _minute(snap.receive_time)
        parts[key].add(latency, minute)
        if (snap.trading_day, snap.cycle_id) in booked:
            parts[key].booked += 1
        if by_symbol:
            symbols[(*key, snap.symbol)].add(latency, minute)
        m = series.get(key) or series.setdefault(key, MinuteSeries(*key))
        m.snapshots[minute] = m.snapshots.get(minute, 0) + 1

    rows: list[ReportRow] = []
    warnings: list[str] = []
    for key in sorted(set(ledger) | set(parts) | set(unbooked)):
        entries = ledger.get(key, [])
        acc = parts.get(key, _Acc())
        row = _row(key, None, entries, acc)
        row.reconnects = reconnects.get(key, 0)
        cycles = unbooked.get(key, [])
        if cycles:
            row.unbooked_cycles = len(cycles)
            row.unbooked_expected = sum(n for _, n in cycles)
            warnings.append(_unbooked_warning(key, cycles))
        if entries and acc.booked != row.archived:
            torn = row.causes.get(f"failed:{FailureCause.TORN_TAIL.value}", 0)
            if not (acc.booked < row.archived and torn):  # (a torn tail is booked loss)
                day, m_, s_ = key
                warnings.append(
                    f"{day} {m_} {s_}: the ledger says {row.archived} snapshots archived, the "
                    f"archive holds {acc.booked} of its cycles: a segment deleted or lost, or "
                    "records no entry counts; `observer verify` names the partition"
                )
        rows.append(row)
        m = series.get(key) or series.setdefault(key, MinuteSeries(*key))
        for e in entries:
            minute = _minute(e.started_at)
            m.expected[minute] = m.expected.get(minute, 0) + e.expected
            lost = _causes([e])
            if lost:
                bucket = m.lost.setdefault(minute, {})
                for cause, n in lost.items():
                    bucket[cause] = bucket.get(cause, 0) + n
        if by_symbol:
            rows.extend(_symbol_rows(key, entries, symbols, expected_by_symbol))
    minutes = [series[k] for k in sorted(series)]
    return Report(rows, minutes, list(reader.report.corrupt) + list(query.report.corrupt), warnings)


def _unbooked(
    root: Path | str,
    journaled: dict[tuple[dt.date, str], tuple[Key, int]],
    cycle_key: dict[tuple[dt.date, str], Key],
    source: str | None,
) -> dict[Key, list[tuple[str, int]]]:
    """Cycles the journal has and no ledger entry books, by row: ``(cycle id, expected)``.

    Days a live writer holds are left out: their latest cycle is still under way.
    """
    out: dict[Key, list[tuple[str, int]]] = defaultdict(list)
    live: dict[dt.date, bool] = {}
    for (day, cycle_id), (key, expected) in sorted(journaled.items()):
        if (day, cycle_id) in cycle_key or (source is not None and key[2] != source):
            continue
        if day not in live:
            live[day] = _day_is_live(Path(root), day)
        if not live[day]:
            out[key].append((cycle_id, expected))
    return dict(out)


def _day_is_live(root: Path, day: dt.date) -> bool:
    """Whether a live writer still writes the day: an open raw segment whose partition lock
    names a live process (as verify tells; a closed writer leaves no open segment)."""
    from ._verify import live_writer

    base = root / Family.RAW.value / f"date={day.isoformat()}"
    return any(
        live_writer(segment.parent / ".lock") is not None
        for segment in base.glob("mode=*/source=*/*.jsonl.zst.open")
    )


def _unbooked_warning(key: Key, cycles: list[tuple[str, int]]) -> str:
    day, mode, source = key
    ids = [cycle_id for cycle_id, _ in cycles]
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return (
        f"{day} {mode} {source}: {len(ids)} cycle(s) of the raw journal have no ledger "
        f"entry ({shown}): {sum(n for _, n in cycles)} expected observations are in no "
        f"figure of this row. A crash the day was never resumed from leaves them: "
        f"`observer run` on {day} resumes the journal and books them"
    )


def _row(key: Key, symbol: str | None, entries: list[LedgerEntry], acc: _Acc) -> ReportRow:
    day, mode, source = key
    row = ReportRow(day, mode, source, symbol)
    row.cycles = len(entries)
    row.expected = sum(e.expected for e in entries)
    row.archived = sum(e.archived for e in entries)
    row.deduplicated = sum(e.deduplicated for e in entries)
    row.lost = loss_count(entries)
    row.loss_rate = loss_rate(entries)
    row.causes = _causes(entries)
    _fill_snapshots(row, acc, entries)
    return row


def _fill_snapshots(row: ReportRow, acc: _Acc, entries: list[LedgerEntry]) -> None:
    row.snapshots = acc.snapshots
    if acc.latencies:
        values = sorted(acc.latencies)
        row.latency_ms_p50 = _percentile(values, 50)
        row.latency_ms_p90 = _percentile(values, 90)
        row.latency_ms_p99 = _percentile(values, 99)
        row.latency_ms_max = float(values[-1])
    ends = [
        m for m in (min(acc.covered, default=None), max(acc.covered, default=None)) if m is not None
    ]
    if entries:
        # From the first cycle's start to the last one's: a cycle ends just after its window
        # (a scalp minute's cycle at hh:mm+1:00.02), so its end's minute is not one it covers.
        ends += [
            _minute(min(e.started_at for e in entries)),
            _minute(max(e.started_at for e in entries)),
        ]
    if not ends:
        return
    span = (min(ends), max(ends))
    row.span_minutes = span[1] - span[0] + 1
    gaps, missing, longest = _gaps(acc.covered, span, _cadence(acc.covered, entries))
    row.gaps, row.longest_gap_min = gaps, longest
    row.minutes_covered = row.span_minutes - missing


def _symbol_rows(
    key: Key,
    entries: list[LedgerEntry],
    symbols: dict[tuple[dt.date, str, str, str], _Acc],
    expected_by_symbol: Counter[tuple[dt.date, str, str, str]],
) -> list[ReportRow]:
    lost: Counter[str] = Counter()
    for e in entries:
        lost.update(e.lost_by_symbol)
    names = sorted(
        {s for (*k, s) in symbols if tuple(k) == key}
        | {s for (*k, s) in expected_by_symbol if tuple(k) == key}
        | set(lost)
    )
    rows = []
    day, mode, source = key
    for name in names:
        acc = symbols.get((*key, name), _Acc())
        archived = acc.snapshots
        expected = expected_by_symbol.get((*key, name), 0) or archived + lost[name]
        deduplicated = max(0, expected - archived - lost[name])
        # One definition of loss: a per-symbol entry through pipeline.loss_rate.
        entry = _symbol_entry(key, expected, archived, deduplicated)
        row = ReportRow(day, mode, source, name)
        row.expected, row.archived, row.deduplicated = expected, archived, deduplicated
        row.lost = loss_count(entry)
        row.loss_rate = loss_rate(entry)
        _fill_snapshots(row, acc, entries)
        rows.append(row)
    return rows


def _symbol_entry(key: Key, expected: int, archived: int, deduplicated: int) -> LedgerEntry:
    day, mode, source = key
    at = dt.datetime.combine(day, dt.time(), KST)
    return LedgerEntry(
        cycle_id="",
        mode=Mode(mode),
        source=Source(source),
        environment=Environment.SIM,
        trading_day=day,
        started_at=at,
        ended_at=at,
        expected=expected,
        archived=archived,
        deduplicated=deduplicated,
    )


def summarize_causes(causes: dict[str, int], limit: int = 3) -> str:
    """``failed:timeout 12, dropped:jump 1`` (the biggest ``limit`` causes, then ``+n more``)."""
    items = list(causes.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "")
