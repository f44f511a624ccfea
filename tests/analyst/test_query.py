"""The notebook API: ``archive.query_snapshots`` filters, typed iteration and frames."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from archive import (
    ArchiveWriter,
    open_archive,
    query_snapshots,
    snapshot_arrow_schema,
    snapshots_to_arrow,
)
from pipeline import ENCODER, KST, Environment, Mode, ObservationSnapshot, Source
from tests.analyst.helpers import DAY1, DAY2

T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=KST)
T1 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=KST)

FILTERS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {}),
    ({"dates": [DAY2]}, {"dates": [DAY2]}),
    ({"mode": "swing", "source": "kis-rest"}, {"mode": "swing", "source": "kis-rest"}),
    ({"start": T0, "end": T1}, {"exchange_window": (T0, T1)}),
    ({"start": T0, "clock": "receive"}, {"receive_window": (T0, None)}),
]


@pytest.mark.parametrize(("query_args", "reader_args"), FILTERS)
def test_query_yields_what_the_reader_yields(
    sample_root: Path, query_args: dict[str, Any], reader_args: dict[str, Any]
) -> None:
    """Each filter selects exactly the snapshots ArchiveReader selects with it."""
    expected = list(open_archive(sample_root).snapshots(**reader_args))
    assert (True, expected) == (len(expected) > 0, list(query_snapshots(sample_root, **query_args)))


def test_query_symbol_filter_matches_reader(sample_root: Path) -> None:
    """A symbol filter (checked on the raw line first) keeps exactly that symbol."""
    symbol = next(iter(open_archive(sample_root).snapshots())).symbol
    expected = list(open_archive(sample_root).snapshots(symbols={symbol}))
    assert expected == list(query_snapshots(sample_root, symbols=[symbol]))


def test_query_lines_are_the_encoding_of_their_records(sample_root: Path) -> None:
    """``lines()`` pairs each record with its stored bytes."""
    pairs = list(query_snapshots(sample_root).lines())
    assert [ENCODER.encode(s) for _, s in pairs] == [line for line, _ in pairs]


def test_time_of_day_window_applies_on_every_day(sample_root: Path) -> None:
    """A ``time`` window keeps 10:00-11:00 KST on both days."""
    snaps = list(query_snapshots(sample_root, start=dt.time(10), end=dt.time(11)))
    assert ({DAY1, DAY2}, True) == (
        {s.trading_day for s in snaps},
        all(
            dt.time(10) <= s.exchange_time.astimezone(KST).time().replace(tzinfo=None) < dt.time(11)
            for s in snaps
        ),
    )


def test_naive_datetime_bound_is_refused(sample_root: Path) -> None:
    """A window bound without an offset is ambiguous and raises ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        query_snapshots(sample_root, start=dt.datetime(2026, 11, 24, 9))


def test_arrow_table_has_one_row_per_snapshot_with_its_values(sample_root: Path) -> None:
    """to_arrow: seq, symbol, exchange instant and nested enrichment match the records."""
    snaps = list(query_snapshots(sample_root))
    table = query_snapshots(sample_root).to_arrow()
    expected = [
        (s.seq, s.symbol, s.exchange_time, s.enrichment.mid if s.enrichment else None)
        for s in snaps
    ]
    got = [
        (r["seq"], r["symbol"], r["exchange_time"], (r["enrichment"] or {}).get("mid"))
        for r in table.to_pylist()
    ]
    assert expected == got


def test_arrow_schema_is_the_declared_one(sample_root: Path) -> None:
    """The table's schema is snapshot_arrow_schema() (stable for downstream code)."""
    assert snapshot_arrow_schema() == query_snapshots(sample_root, dates=[DAY1]).to_arrow().schema


def test_empty_query_gives_an_empty_table_with_the_schema(sample_root: Path) -> None:
    """No match: zero rows, same columns."""
    table = query_snapshots(sample_root, symbols=["999999"]).to_arrow()
    assert (0, snapshot_arrow_schema()) == (table.num_rows, table.schema)


def test_polars_frame_equals_arrow_table(sample_root: Path) -> None:
    """to_polars is the Arrow table as a Polars DataFrame."""
    query = query_snapshots(sample_root, mode="scalp")
    assert pl.from_arrow(query.to_arrow()).equals(query.to_polars())


def test_pandas_frame_has_flattened_columns(sample_root: Path) -> None:
    """to_pandas flattens structs so enrichment.mid is a plain column."""
    frame = query_snapshots(sample_root, mode="scalp").to_pandas()
    snaps = list(query_snapshots(sample_root, mode="scalp"))
    assert [s.enrichment.mid for s in snaps] == frame["enrichment.mid"].tolist()  # type: ignore[union-attr]


def test_snapshots_to_arrow_of_nothing_is_empty(sample_root: Path) -> None:
    """snapshots_to_arrow([]) is an empty table, not an error."""
    expected = 0
    assert expected == snapshots_to_arrow([]).num_rows


def test_batches_are_bounded(sample_root: Path) -> None:
    """batches(size) never yields more than size rows."""
    sizes = [b.num_rows for b in query_snapshots(sample_root).batches(100)]
    assert (True, sum(1 for _ in query_snapshots(sample_root))) == (max(sizes) <= 100, sum(sizes))


def _stamped(seq: int, mode: Mode, ms: int) -> ObservationSnapshot:
    """A snapshot received (and traded) ``ms`` after 10:00 KST."""
    t = T0 + dt.timedelta(milliseconds=ms)
    return ObservationSnapshot(
        seq=seq,
        symbol="005930",
        mode=mode,
        source=Source.KIS_REST if mode is Mode.SWING else Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY1,
        exchange_time=t,
        receive_time=t,
        cycle_id="c",
        last=70_000,
    )


def _out_of_seq_time(root: Path) -> None:
    """Two partitions whose seq order steps back in time (archived a moment late)."""
    with ArchiveWriter(root, clock=lambda: 0.0) as writer:
        writer.append_many([_stamped(s, Mode.SCALP, ms) for s, ms in ((1, 0), (2, 600), (3, 300))])
        writer.append_many(
            [_stamped(s, Mode.SWING, ms) for s, ms in ((1, 100), (2, 900), (3, 500))]
        )


def test_time_order_is_time_order_across_and_within_partitions(tmp_path: Path) -> None:
    """order="time" puts records a partition stores out of time order back in place."""
    _out_of_seq_time(tmp_path)
    query = query_snapshots(tmp_path, clock="receive")
    times = [s.receive_time for s in query.records("time")]
    expected = (sorted(times), 6, 0)
    assert expected == (times, len(times), query.late)


def test_a_record_later_than_the_reorder_window_is_counted(tmp_path: Path) -> None:
    """A record further out of place than the window still comes out, and is counted with
    the window that would have put it right: 400 ms (read after a record of 900 ms, its own
    time 500 ms), and that window does."""
    _out_of_seq_time(tmp_path)
    query = query_snapshots(tmp_path, reorder_window=dt.timedelta(milliseconds=200))
    records = list(query.records("time"))
    wider = query_snapshots(tmp_path, reorder_window=query.late_worst)
    list(wider.records("time"))
    expected = (6, 1, dt.timedelta(milliseconds=400), 0)
    assert expected == (len(records), query.late, query.late_worst, wider.late)
