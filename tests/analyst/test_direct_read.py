"""No code of ours needed: DuckDB and Polars read the archive files directly, same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from archive import query_snapshots


@pytest.fixture(params=["sample_root", "simulated_root"])
def any_root(request: pytest.FixtureRequest) -> Path:
    """The synthetic sample and the archive of a simulated ``observer run``."""
    root: Path = request.getfixturevalue(request.param)
    return root


def ours(root: Path) -> list[dict[str, Any]]:
    # seq is per partition: scalp snapshots of kis-ws and of its kis-rest fallback both count from 1
    rows: list[dict[str, Any]] = query_snapshots(root).to_arrow().to_pylist()
    return sorted(rows, key=lambda r: (r["trading_day"], r["mode"], r["source"], r["seq"]))


def test_duckdb_read_json_returns_our_rows_and_values(any_root: Path) -> None:
    """DuckDB's read_json over the hive tree gives every record with the reader's values."""
    glob = f"{any_root}/snapshots/**/*.jsonl.zst"
    table = duckdb.sql(
        f"SELECT * EXCLUDE (date) FROM read_json('{glob}', hive_partitioning = true) "
        "ORDER BY trading_day, mode, source, seq"
    ).to_arrow_table()
    assert ours(any_root) == table.to_pylist()


def test_duckdb_fetches_exchange_times_as_python_datetimes(sample_root: Path) -> None:
    """``fetchall()`` turns DuckDB's TIMESTAMPTZ into aware datetimes: our instants, exactly.

    DuckDB needs pytz for that conversion and does not install it; the ``analysis`` extra
    does, so an analyst's first ``fetchall()`` over ``exchange_time`` does not fail.
    """
    glob = f"{sample_root}/snapshots/**/*.jsonl.zst"
    fetched = duckdb.sql(
        f"SELECT mode, source, seq, exchange_time, receive_time "
        f"FROM read_json('{glob}', hive_partitioning = true) ORDER BY mode, source, seq"
    ).fetchall()
    expected = sorted(
        (s.mode.value, s.source.value, s.seq, s.exchange_time, s.receive_time)
        for s in query_snapshots(sample_root)
    )
    assert all(row[3].tzinfo is not None for row in fetched)
    assert fetched == expected


def test_duckdb_hive_columns_select_partitions(sample_root: Path) -> None:
    """The date=/mode=/source= directories become columns DuckDB can filter on."""
    glob = f"{sample_root}/snapshots/**/*.jsonl.zst"
    (count,) = duckdb.sql(
        f"SELECT count(*) FROM read_json('{glob}', hive_partitioning = true) "
        "WHERE date = DATE '2026-11-24' AND mode = 'scalp'"
    ).fetchall()
    expected = sum(
        1 for _ in query_snapshots(sample_root, dates=[dt.date(2026, 11, 24)], mode="scalp")
    )
    assert (expected,) == count


def _instant(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def test_polars_read_ndjson_returns_our_rows_and_values(any_root: Path) -> None:
    """Polars reads the .jsonl.zst files as they are (file by file, README); same values."""
    files = sorted((any_root / "snapshots").rglob("*.jsonl.zst"))
    frame = pl.concat(
        [pl.read_ndjson(f, infer_schema_length=None) for f in files], how="diagonal_relaxed"
    ).sort("trading_day", "mode", "source", "seq")
    theirs = frame.to_dicts()
    for row in theirs:  # JSON has no date or time type: Polars leaves them as text
        row["trading_day"] = dt.date.fromisoformat(row["trading_day"])
        row["exchange_time"] = _instant(row["exchange_time"])
        row["receive_time"] = _instant(row["receive_time"])
        if row["enrichment"] is not None:
            row["enrichment"]["prev_exchange_time"] = _instant(
                row["enrichment"]["prev_exchange_time"]
            )
    assert ours(any_root) == theirs
