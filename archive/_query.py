"""Snapshot queries for analysts: filters, typed iteration, Arrow / Polars / pandas frames.

Usage (a notebook)::

    import archive
    q = archive.query_snapshots(root, dates=[day], symbols=["005930"], mode="scalp",
                                start=dt.time(9, 0), end=dt.time(9, 30))   # KST time of day
    for snap in q: ...                       # typed ObservationSnapshot, partition by partition
    table = q.to_arrow()                     # pyarrow.Table (the ``analysis`` extra)
    frame = q.to_polars()                    # or q.to_pandas()

Filters are those of ``observer replay``: trading days, symbols, mode, source, and a
half-open window ``[start, end)`` on exchange or receive time (``clock``). A window bound
is a timezone-aware ``datetime`` (an instant) or a ``time`` (KST wall-clock time of day,
applied on every selected day).

Reading: the same files, order and damage rules as ``ArchiveReader`` (partitions by
(date, mode, source), segments in seq order, open segments up to their last complete
frame, ``skip_corrupt`` to skip a damaged frame or line and list it in ``report``; a record
of a newer schema version raises, or with ``skip_newer`` ends only its partition and is
listed in ``newer``). On top
of the reader, a query hands out each record's *line as stored* beside the typed record
(``lines()``): the encoder is deterministic, so replaying JSON Lines is a copy of those
bytes, not a re-encode. ``order="time"`` gives the records in time order on the chosen
clock (what a paced replay needs); the default reads partition after partition at disk
speed.

Time order: a partition is stored in seq order, which is not quite time order (a record
is stamped when it arrives and archived a moment later by whichever task got it; a swing
response carries each symbol's last trade time). The partitions are merged by time and
then passed through a reorder window (``reorder_window``, 5 s by default): records are
held in a heap and let out once a record ``reorder_window`` later has been read, so any
record at most that far out of place comes out in order, with memory bounded by the
records of one window. A record later than that (older than one already let out) cannot
be put back in place: it comes out next, out of order, and is counted in ``late``
(``late_worst``: the window that would have put every one of them in place), never
silently.

Arrow columns follow the record: one column per field, ``enrichment`` and ``lineage`` as
struct columns (``table.flatten()`` gives ``enrichment.mid`` …), depth as list columns,
``exchange_time`` in Asia/Seoul (KST has had no DST since 1988, so it equals the +09:00 the
records carry), ``receive_time`` in UTC, ``trading_day`` a date. pyarrow, polars and pandas
are imported only when a frame is asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from pipeline import (
    KST,
    Enrichment,
    Lineage,
    ObservationSnapshot,
)

from ._errors import (
    ArchiveError,
    UnknownSchemaVersionError,
)
from ._layout import DATA_SUFFIX, MANIFEST_SUFFIX, OPEN_SUFFIX, Family, Partition
from ._manifest import read_manifest
from ._reader import ArchiveReader, ReadReport, symbol_needles

if TYPE_CHECKING:  # pragma: no cover
    import pandas  # type: ignore[import-untyped]
    import polars
    import pyarrow  # type: ignore[import-untyped]

__all__ = [
    "Clock",
    "SnapshotQuery",
    "query_snapshots",
    "snapshot_arrow_schema",
    "snapshots_to_arrow",
    "stored_lines",
]

Clock = Literal["exchange", "receive"]
#: how far out of place a record may be and still come out in time order (module doc)
DEFAULT_REORDER_WINDOW: Final = dt.timedelta(seconds=5)
Bound = dt.datetime | dt.time | None


def _check_bound(name: str, bound: Bound) -> None:
    if isinstance(bound, dt.datetime):
        if bound.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (or a KST time of day)")
    elif isinstance(bound, dt.time):
        if bound.tzinfo is not None:
            raise ValueError(f"{name} as a time of day is KST wall-clock time, without offset")
    elif bound is not None:
        raise TypeError(f"{name} is a datetime, a time or None, not {type(bound).__name__}")


@dataclasses.dataclass(frozen=True, slots=True)
class _Filter:
    """The per-record part of a query (what partitions and needles cannot decide)."""

    symbols: frozenset[str] | None
    clock: Clock
    start: Bound
    end: Bound

    @property
    def trivial(self) -> bool:
        return self.symbols is None and self.start is None and self.end is None

    def keep(self, s: ObservationSnapshot) -> bool:
        if self.symbols is not None and s.symbol not in self.symbols:
            return False
        if self.start is None and self.end is None:
            return True
        t = s.exchange_time if self.clock == "exchange" else s.receive_time
        start, end = self.start, self.end
        if isinstance(start, dt.time) or isinstance(end, dt.time):
            tod = t.astimezone(KST).time().replace(tzinfo=None)
            if isinstance(start, dt.time) and tod < start:
                return False
            if isinstance(end, dt.time) and tod >= end:
                return False
        if isinstance(start, dt.datetime) and t < start:
            return False
        return not (isinstance(end, dt.datetime) and t >= end)


class SnapshotQuery:
    """A filtered view of the snapshots under an archive root (see the module doc).

    Iterating twice reads twice; ``report`` accumulates what was read and skipped.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        dates: dt.date | Iterable[dt.date] | None = None,
        symbols: Iterable[str] | None = None,
        mode: str | None = None,
        source: str | None = None,
        start: Bound = None,
        end: Bound = None,
        clock: Clock = "exchange",
        skip_corrupt: bool = False,
        skip_newer: bool = False,
        reorder_window: dt.timedelta = DEFAULT_REORDER_WINDOW,
    ) -> None:
        if clock not in ("exchange", "receive"):
            raise ValueError(f"clock is 'exchange' or 'receive', not {clock!r}")
        _check_bound("start", start)
        _check_bound("end", end)
        if isinstance(symbols, str):
            symbols = [symbols]
        self.reader = ArchiveReader(root, skip_corrupt=skip_corrupt)
        self.root = self.reader.root
        self.dates = (
            None if dates is None else frozenset([dates] if isinstance(dates, dt.date) else dates)
        )
        self.mode = None if mode is None else str(getattr(mode, "value", mode))
        self.source = None if source is None else str(getattr(source, "value", source))
        self.clock: Clock = clock
        self._filter = _Filter(None if symbols is None else frozenset(symbols), clock, start, end)
        #: ``skip_newer``: a record of a newer schema version ends its *partition* (listed in
        #: ``newer``) instead of the whole read; the other partitions are still read.
        self.skip_newer = skip_newer
        self.newer: list[UnknownSchemaVersionError] = []
        if reorder_window < dt.timedelta(0):
            raise ValueError(f"reorder_window must not be negative, got {reorder_window}")
        #: ``order="time"``: how far out of place a record may be and still come out in
        #: order; ``late`` counts those further back (out of order); ``late_worst`` is the
        #: window that would have put them all in place (the latest time read before such a
        #: record, minus its own time, at the most).
        self.reorder_window = reorder_window
        self.late = 0
        self.late_worst = dt.timedelta(0)

    # ------------------------------------------------------------------ discovery

    @property
    def report(self) -> ReadReport:
        """What has been read and skipped so far (the reader's report)."""
        return self.reader.report

    @property
    def symbols(self) -> frozenset[str] | None:
        return self._filter.symbols

    def partitions(self) -> list[Partition]:
        """The snapshot partitions the date, mode and source filters select, in read order."""
        return self.reader.partitions(
            Family.SNAPSHOTS, dates=self.dates, mode=self.mode, source=self.source
        )

    def segments(self) -> list[Path]:
        """Data files to read (sealed and open), in read order."""
        return [path for p in self.partitions() for path in self.reader.segments(p)]

    def sealed_record_count(self) -> tuple[int, int]:
        """``(records in sealed segments per their manifests, segments not counted)``.

        An upper bound of what iteration yields (filters within a partition cut it down);
        progress bars use it as their total. Segments not counted are the open ones and
        sealed ones whose manifest cannot be read (reading reports what is wrong with them;
        a count is no reason to stop).
        """
        total = 0
        uncounted = 0
        for path in self.segments():
            if path.name.endswith(OPEN_SUFFIX):
                uncounted += 1
                continue
            stem = path.name[: -len(DATA_SUFFIX)]
            try:
                total += read_manifest(path.with_name(stem + MANIFEST_SUFFIX)).record_count
            except ArchiveError:
                uncounted += 1
        return total, uncounted

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> Iterator[ObservationSnapshot]:
        for _, snap in self.lines():
            yield snap

    def records(
        self, order: Literal["partition", "time"] = "partition"
    ) -> Iterator[ObservationSnapshot]:
        """Typed snapshots in partition order or merged across partitions by ``clock``."""
        for _, snap in self.lines(order):
            yield snap

    def lines(
        self, order: Literal["partition", "time"] = "partition"
    ) -> Iterator[tuple[bytes, ObservationSnapshot]]:
        """``(line as stored, without newline; typed snapshot)`` for every match."""
        if order == "partition":
            for partition in self.partitions():
                yield from self._partition_lines(partition)
            return
        if order != "time":
            raise ValueError(f"order is 'partition' or 'time', not {order!r}")
        key = _exchange_key if self.clock == "exchange" else _receive_key
        merged = heapq.merge(*(self._partition_lines(p) for p in self.partitions()), key=key)
        yield from self._reordered(merged, key)

    def _reordered(
        self,
        items: Iterable[tuple[bytes, ObservationSnapshot]],
        key: Callable[[tuple[bytes, ObservationSnapshot]], dt.datetime],
    ) -> Iterator[tuple[bytes, ObservationSnapshot]]:
        """``items`` in time order, held back ``reorder_window`` (see the module doc)."""
        window = self.reorder_window
        held: list[tuple[dt.datetime, int, tuple[bytes, ObservationSnapshot]]] = []
        newest: dt.datetime | None = None  # the latest time read
        out: dt.datetime | None = None  # the latest time let out
        for n, item in enumerate(items):
            t = key(item)
            if out is not None and t < out:
                self.late += 1
                # read after records up to `newest`: a window that wide would have held
                # every later record back until this one came
                self.late_worst = max(self.late_worst, newest - t)  # type: ignore[operator]
            heapq.heappush(held, (t, n, item))
            newest = t if newest is None or t > newest else newest
            while held and held[0][0] <= newest - window:
                at, _, first = heapq.heappop(held)
                out = at if out is None or at > out else out
                yield first
        while held:
            yield heapq.heappop(held)[2]

    def _partition_lines(self, partition: Partition) -> Iterator[tuple[bytes, ObservationSnapshot]]:
        f = self._filter
        keep = None if f.trivial else f.keep
        needles = None if f.symbols is None else symbol_needles(f.symbols)
        try:
            for path in self.reader.segments(partition):
                yield from self.reader.segment_lines(
                    path, Family.SNAPSHOTS, keep=keep, needles=needles
                )
        except UnknownSchemaVersionError as exc:
            if not self.skip_newer:
                raise
            self.newer.append(exc)

    # ------------------------------------------------------------------ frames

    def batches(
        self, size: int = 65_536, order: Literal["partition", "time"] = "partition"
    ) -> Iterator[pyarrow.RecordBatch]:
        """Arrow record batches of at most ``size`` rows (bounded memory for big days)."""
        if size <= 0:
            raise ValueError("batch size must be positive")
        records = self.records(order)
        while True:
            # Holding a chunk of records alive while decoding more makes every cyclic GC pass
            # walk the whole chunk (records hold no cycles): pause it while a chunk fills.
            with _gc_paused():
                chunk = list(itertools.islice(records, size))
                batch = _to_batch(chunk) if chunk else None
            if batch is None:
                return
            yield batch
            if len(chunk) < size:
                return

    def to_arrow(self) -> pyarrow.Table:
        """Every match as one ``pyarrow.Table`` (``snapshot_arrow_schema()``)."""
        import pyarrow as pa

        return pa.Table.from_batches(list(self.batches()), schema=snapshot_arrow_schema())

    def to_polars(self) -> polars.DataFrame:
        """Every match as a ``polars.DataFrame`` (struct and list columns kept)."""
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)  # a Table always gives a DataFrame
        return frame

    def to_pandas(self) -> pandas.DataFrame:
        """Every match as a ``pandas.DataFrame`` (structs flattened to ``enrichment.mid`` …)."""
        return self.to_arrow().flatten().to_pandas()


def stored_lines(reader: ArchiveReader, partition: Partition) -> Iterator[tuple[bytes, Any]]:
    """``(line as stored, typed record)`` of every record of one partition, any family.

    Segments in seq order, the reader's ``skip_corrupt`` and report apply. ``observer
    rederive`` compares these bytes with what a re-run of the pipeline writes.
    """
    for path in reader.segments(partition):
        yield from reader.segment_lines(path, partition.family)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (restored as it was, also on error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _exchange_key(item: tuple[bytes, ObservationSnapshot]) -> dt.datetime:
    return item[1].exchange_time


def _receive_key(item: tuple[bytes, ObservationSnapshot]) -> dt.datetime:
    return item[1].receive_time


def query_snapshots(
    root: Path | str,
    *,
    dates: dt.date | Iterable[dt.date] | None = None,
    symbols: Iterable[str] | None = None,
    mode: str | None = None,
    source: str | None = None,
    start: Bound = None,
    end: Bound = None,
    clock: Clock = "exchange",
    skip_corrupt: bool = False,
    skip_newer: bool = False,
    reorder_window: dt.timedelta = DEFAULT_REORDER_WINDOW,
) -> SnapshotQuery:
    """A ``SnapshotQuery`` on ``root`` (see the module doc for the filters)."""
    return SnapshotQuery(
        root,
        dates=dates,
        symbols=symbols,
        mode=mode,
        source=source,
        start=start,
        end=end,
        clock=clock,
        skip_corrupt=skip_corrupt,
        skip_newer=skip_newer,
        reorder_window=reorder_window,
    )


# ---------------------------------------------------------------------- Arrow

_INT = "int"
_SCALAR_TYPES: Final[dict[str, str]] = {
    "schema_version": _INT,
    "seq": _INT,
    "symbol": "str",
    "market": "str",
    "mode": "str",
    "source": "str",
    "environment": "str",
    "trading_day": "date",
    "exchange_time": "kst",
    "receive_time": "utc",
    "cycle_id": "str",
    "change_rate_pct": "float",
    "vi_active": "bool",
    "halted": "bool",
    "hour_cls_code": "str",
    "status_code": "str",
    "bid_prices": "ints",
    "bid_sizes": "ints",
    "ask_prices": "ints",
    "ask_sizes": "ints",
    "enrichment": "enrichment",
    "lineage": "lineage",
}
_ENRICHMENT_TYPES: Final[dict[str, str]] = {
    "session_phase": "str",
    "staleness_ms": _INT,
    "mid": "float",
    "spread_bps": "float",
    "return_since_prev": "float",
    "prev_exchange_time": "kst",
    "tick_conforming": "bool",
}
_LINEAGE_TYPES: Final[dict[str, str]] = {
    "raw_mode": "str",
    "raw_source": "str",
    "raw_seqs": "ints",
    "record_index": _INT,
}


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    simple = {
        _INT: pa.int64(),
        "str": pa.string(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "kst": pa.timestamp("us", tz="Asia/Seoul"),
        "utc": pa.timestamp("us", tz="UTC"),
        "ints": pa.list_(pa.int64()),
    }
    if kind in simple:
        return simple[kind]
    fields = _ENRICHMENT_TYPES if kind == "enrichment" else _LINEAGE_TYPES
    return pa.struct([pa.field(name, _arrow_type(k)) for name, k in fields.items()])


def snapshot_arrow_schema() -> pyarrow.Schema:
    """The Arrow schema of ``SnapshotQuery.to_arrow()``: one field per snapshot field."""
    import pyarrow as pa

    fields = ObservationSnapshot.__struct_fields__
    return pa.schema(
        [pa.field(name, _arrow_type(_SCALAR_TYPES.get(name, _INT))) for name in fields]
    )


def _struct_array(values: Iterable[Any], kinds: dict[str, str], cls: Any) -> Any:
    import pyarrow as pa

    items = list(values)
    mask = [v is None for v in items]
    width = len(kinds)
    blank = (None,) * width
    rows = [blank if v is None else msgspec.structs.astuple(v) for v in items]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    children = [_column(list(col), k) for col, k in zip(columns, kinds.values(), strict=True)]
    assert tuple(kinds) == cls.__struct_fields__  # the column map covers the struct
    return pa.StructArray.from_arrays(
        children, fields=list(_arrow_type_fields(kinds)), mask=pa.array(mask, pa.bool_())
    )


def _arrow_type_fields(kinds: dict[str, str]) -> Iterator[Any]:
    import pyarrow as pa

    for name, kind in kinds.items():
        yield pa.field(name, _arrow_type(kind))


def _column(values: list[Any], kind: str) -> Any:
    import pyarrow as pa

    if kind == "enrichment":
        return _struct_array(values, _ENRICHMENT_TYPES, Enrichment)
    if kind == "lineage":
        return _struct_array(values, _LINEAGE_TYPES, Lineage)
    return pa.array(values, type=_arrow_type(kind))


def _to_batch(snaps: list[ObservationSnapshot]) -> pyarrow.RecordBatch:
    import pyarrow as pa

    schema = snapshot_arrow_schema()
    names = ObservationSnapshot.__struct_fields__
    # Transposing builds a tuple per row and a list per column: millions of short-lived
    # containers that would each trigger the cyclic GC for nothing (~3× slower with it on).
    with _gc_paused():
        columns = zip(*(msgspec.structs.astuple(s) for s in snaps), strict=True)
        arrays = [
            _column(list(col), _SCALAR_TYPES.get(name, _INT))
            for name, col in zip(names, columns, strict=True)
        ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def snapshots_to_arrow(snapshots: Iterable[ObservationSnapshot]) -> pyarrow.Table:
    """A ``pyarrow.Table`` of any snapshots (``snapshot_arrow_schema()``)."""
    import pyarrow as pa

    snaps = list(snapshots)
    if not snaps:
        return snapshot_arrow_schema().empty_table()
    return pa.Table.from_batches([_to_batch(snaps)], schema=snapshot_arrow_schema())
