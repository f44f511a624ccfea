"""Replay: a snapshot query written out as JSON Lines, CSV or Parquet, optionally paced.

JSON Lines are the archive's own lines, copied (the encoder is deterministic, so there is
nothing to re-encode); CSV and Parquet go through Arrow record batches of bounded size
(``archive.SnapshotQuery.batches``). CSV has no nested or list columns: structs are
flattened to ``enrichment.mid``-style columns and lists are written as JSON arrays.

Pacing (``pace=N``) emits records in time order across partitions (the query's reorder
window: ``archive.SnapshotQuery``), each at
``(t - t_first) / N`` after the first on the wall clock; ``sleep`` and ``monotonic`` are
injected so a test runs a day at any speed without sleeping.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import itertools
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Literal

import msgspec

from archive import ArchiveError, SnapshotQuery

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow  # type: ignore[import-untyped]

__all__ = ["Format", "ReplayResult", "replay"]


class Format(enum.StrEnum):
    """Output formats of ``observer replay``."""

    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


@dataclasses.dataclass(slots=True)
class ReplayResult:
    """What a replay wrote."""

    records: int = 0
    slept_s: float = 0.0


_CHUNK = 4096


def replay(
    query: SnapshotQuery,
    out: IO[bytes],
    *,
    fmt: Format | str = Format.JSONL,
    pace: float | None = None,
    order: Literal["partition", "time"] = "partition",
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    batch_size: int = 65_536,
) -> ReplayResult:
    """Write every snapshot ``query`` selects to ``out``; returns how many.

    ``progress(n)`` is called with the records written since its last call (every few
    thousand records, and at the end). ``order="time"`` merges partitions by the query's
    clock; ``pace`` (> 0) also paces JSON Lines output at ``pace``× the recorded speed on
    that clock (see the module doc).
    """
    fmt = Format(fmt)
    if pace is not None:
        if not pace > 0:
            raise ValueError(f"pace must be > 0, got {pace}")
        if fmt is not Format.JSONL:
            raise ValueError("pace applies to JSON Lines output only")
        return _paced(query, out, pace, progress, sleep, monotonic)
    if order not in ("partition", "time"):
        raise ValueError(f"order is 'partition' or 'time', not {order!r}")
    if fmt is Format.JSONL:
        return _jsonl(query, out, progress, order)
    return _tabular(query, out, fmt, progress, batch_size, order)


def _jsonl(
    query: SnapshotQuery,
    out: IO[bytes],
    progress: Callable[[int], None] | None,
    order: Literal["partition", "time"],
) -> ReplayResult:
    result = ReplayResult()
    chunk: list[bytes] = []
    write = out.write

    def emit() -> None:
        if chunk:
            n = len(chunk)
            chunk.append(b"")
            write(b"\n".join(chunk))
            result.records += n
            if progress is not None:
                progress(n)
            chunk.clear()

    try:
        for line, _ in query.lines(order):
            chunk.append(line)
            if len(chunk) >= _CHUNK:
                emit()
    except ArchiveError:  # (--strict) the intact records read before the damage go out
        emit()
        out.flush()
        raise
    emit()
    out.flush()
    return result


def _paced(
    query: SnapshotQuery,
    out: IO[bytes],
    pace: float,
    progress: Callable[[int], None] | None,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> ReplayResult:
    result = ReplayResult()
    exchange = query.clock == "exchange"
    first: Any = None
    wall0 = 0.0
    for line, snap in query.lines(order="time"):
        t = snap.exchange_time if exchange else snap.receive_time
        if first is None:
            first, wall0 = t, monotonic()
        else:
            due = wall0 + (t - first).total_seconds() / pace
            wait = due - monotonic()
            if wait > 0:
                out.flush()
                sleep(wait)
                result.slept_s += wait
        out.write(line + b"\n")
        result.records += 1
        if progress is not None:
            progress(1)
    out.flush()
    return result


def _tabular(
    query: SnapshotQuery,
    out: IO[bytes],
    fmt: Format,
    progress: Callable[[int], None] | None,
    batch_size: int,
    order: Literal["partition", "time"],
) -> ReplayResult:
    import pyarrow as pa

    from archive import snapshot_arrow_schema

    result = ReplayResult()
    writer: Any = None
    schema = snapshot_arrow_schema()
    damage: list[ArchiveError] = []
    try:
        for batch in _batches(query, batch_size, order, damage):
            if fmt is Format.CSV:
                batch = _csv_ready(batch)
            if writer is None:
                writer = _open_writer(out, fmt, batch.schema)
            writer.write_batch(batch)
            result.records += batch.num_rows
            if progress is not None:
                progress(batch.num_rows)
        if writer is None:  # nothing matched: still a valid, empty file with the header
            empty = schema.empty_table().to_batches() or [
                pa.RecordBatch.from_pylist([], schema=schema)
            ]
            first = _csv_ready(empty[0]) if fmt is Format.CSV else empty[0]
            writer = _open_writer(out, fmt, first.schema)
    finally:
        if writer is not None:
            writer.close()
    out.flush()
    if damage:  # (--strict) raised after the intact records read before it were written
        raise damage[0]
    return result


def _batches(
    query: SnapshotQuery,
    size: int,
    order: Literal["partition", "time"],
    damage: list[ArchiveError],
) -> Iterator[pyarrow.RecordBatch]:
    """``query.batches``, except that damage (under --strict) ends the batches after the
    records read before it, and is put in ``damage`` for the caller to raise."""
    from archive import snapshots_to_arrow

    def until_damage() -> Iterator[Any]:
        try:
            yield from query.records(order)
        except ArchiveError as exc:
            damage.append(exc)

    records = until_damage()
    while True:
        was_enabled = gc.isenabled()
        gc.disable()  # (as query.batches: a filling chunk makes every GC pass walk it)
        try:
            chunk = list(itertools.islice(records, size))
        finally:
            if was_enabled:
                gc.enable()
        if not chunk:
            return
        yield from snapshots_to_arrow(chunk).to_batches()
        if len(chunk) < size:
            return


def _open_writer(out: IO[bytes], fmt: Format, schema: pyarrow.Schema) -> Any:
    if fmt is Format.PARQUET:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        return pq.ParquetWriter(out, schema, compression="zstd")
    import pyarrow.csv as pcsv  # type: ignore[import-untyped]

    return pcsv.CSVWriter(out, schema)


_LIST_JSON = msgspec.json.Encoder()


def _csv_ready(batch: pyarrow.RecordBatch) -> pyarrow.RecordBatch:
    """Structs flattened (``enrichment.mid``), lists as JSON array text: CSV has neither."""
    import pyarrow as pa

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        table = pa.Table.from_batches([batch]).flatten()
        columns = []
        fields = []
        for field, column in zip(table.schema, table.columns, strict=True):
            if pa.types.is_list(field.type):
                values = [
                    None if v is None else _LIST_JSON.encode(v).decode() for v in column.to_pylist()
                ]
                column = pa.chunked_array([pa.array(values, pa.string())])
                field = pa.field(field.name, pa.string())
            columns.append(column)
            fields.append(field)
        flat = pa.Table.from_arrays(columns, schema=pa.schema(fields)).combine_chunks()
        batches = flat.to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=flat.schema)
    finally:
        if was_enabled:
            gc.enable()
