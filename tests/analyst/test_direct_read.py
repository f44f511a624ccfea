"""No code of ours needed: DuckDB and Polars read the archive files directly, same rows."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import polars as pl
import pytest

from archive import ArchiveWriter, query_snapshots
from tests.archive.helpers import FakeClock, snapshots

README = Path(__file__).resolve().parents[2] / "README.md"


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


def _readme_block(marker: str) -> str:
    """The README's fenced python block of the "No code of ours needed" part holding ``marker``."""
    text = README.read_text(encoding="utf-8")
    part = text.split("### No code of ours needed", 1)[1].split("\n## ", 1)[0]
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", part, flags=re.DOTALL) if marker in b]
    return block


def _late_field_tree(root: Path, days: int, per_day: int) -> None:
    """``days`` daily partitions of ``per_day`` snapshots; only the very last record of the
    last day has a ``vi_ref_price`` (null everywhere else)."""
    start = dt.date(2026, 9, 1)
    for k in range(days):
        day = start + dt.timedelta(days=k)
        rows = snapshots(range(1, per_day + 1), day=day)
        if k == days - 1:
            rows[-1] = msgspec.structs.replace(rows[-1], vi_ref_price=71_000)
        with ArchiveWriter(root, clock=FakeClock()) as writer:
            writer.append_many(rows)


@pytest.mark.parametrize(
    ("days", "per_day"),
    [(40, 10), (1, 25_000)],
    ids=["set-only-after-32-files", "set-only-after-20480-rows"],
)
def test_readme_duckdb_recipe_keeps_a_field_set_late(
    tmp_path: Path, days: int, per_day: int
) -> None:
    """The README's read_json options see a field that is null in the first 32 files or in
    the first 20,480 rows of a file (DuckDB's default samples), instead of nulling it."""
    _late_field_tree(tmp_path, days, per_day)
    recipe = _readme_block("import duckdb")
    (options,) = re.findall(
        r"read_json\('observer-archive/snapshots/\*\*/\*\.jsonl\.zst'(.*?)\)", recipe
    )
    glob = f"{tmp_path}/snapshots/**/*.jsonl.zst"
    query = f"SELECT count(vi_ref_price) FROM read_json('{glob}'{options})"
    assert [(1,)] == duckdb.sql(query).fetchall()


def test_readme_polars_recipe_parses_times_into_our_instants(
    sample_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's Polars block leaves ``frame`` with exchange and receive times parsed
    into the instants our reader gives."""
    (sample_root.parent / "observer-archive").symlink_to(sample_root)
    monkeypatch.chdir(sample_root.parent)
    namespace: dict[str, Any] = {}
    exec(compile(_readme_block("import polars"), "README polars block", "exec"), namespace)
    frame = namespace["frame"].sort("trading_day", "mode", "source", "seq")
    expected = [(s["exchange_time"], s["receive_time"]) for s in ours(sample_root)]
    assert expected == list(zip(frame["exchange_time"], frame["receive_time"], strict=True))
