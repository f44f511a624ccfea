"""``observer replay`` and ``observer.analyst.replay``: filters, formats, pacing, progress."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from pathlib import Path

import msgspec
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from archive import open_archive, query_snapshots
from observer.analyst import replay
from observer.cli import cli
from pipeline import ENCODER, KST, SNAPSHOT_DECODER, ObservationSnapshot
from tests.analyst.helpers import DAY1, DAY2


def run(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr


def decode_lines(data: bytes) -> list[ObservationSnapshot]:
    return [SNAPSHOT_DECODER.decode(line) for line in data.splitlines()]


def test_replay_prints_every_snapshot_as_the_reader_reads_it(sample_root: Path) -> None:
    """Without filters, stdout is every snapshot of the archive in reader order."""
    code, out, _ = run("replay", str(sample_root))
    assert (0, list(open_archive(sample_root).snapshots())) == (code, decode_lines(out))


def test_replay_lines_are_the_stored_bytes(sample_root: Path) -> None:
    """Each output line is the deterministic encoding of its record (no re-formatting)."""
    _, out, _ = run("replay", str(sample_root), "--mode", "scalp")
    expected = b"".join(
        ENCODER.encode(s) + b"\n" for s in open_archive(sample_root).snapshots(mode="scalp")
    )
    assert expected == out


def test_replay_filters_by_repeated_symbol_and_date(sample_root: Path) -> None:
    """--symbol twice and --date select exactly those symbols on that day."""
    symbols = sorted({s.symbol for s in open_archive(sample_root).snapshots()})[:2]
    _, out, _ = run(
        "replay",
        str(sample_root),
        "--date",
        DAY2.isoformat(),
        "--symbol",
        symbols[0],
        "--symbol",
        symbols[1],
    )
    expected = list(open_archive(sample_root).snapshots(dates=[DAY2], symbols=set(symbols)))
    assert expected == decode_lines(out)


def test_replay_date_range_includes_both_ends(sample_root: Path) -> None:
    """--date A..B reads every day from A to B."""
    _, out, _ = run("replay", str(sample_root), "--date", f"{DAY1}..{DAY2}")
    assert {DAY1, DAY2} == {s.trading_day for s in decode_lines(out)}


def test_replay_time_of_day_window_on_exchange_clock(sample_root: Path) -> None:
    """--from/--to as KST times of day keep exchange times in [from, to) on every day."""
    _, out, _ = run("replay", str(sample_root), "--from", "10:00", "--to", "11:00")
    expected = [
        s
        for s in open_archive(sample_root).snapshots()
        if dt.time(10) <= s.exchange_time.astimezone(KST).time().replace(tzinfo=None) < dt.time(11)
    ]
    assert (True, expected) == (len(expected) > 0, decode_lines(out))


def test_replay_time_of_day_window_takes_fractions_of_a_second(sample_root: Path) -> None:
    """--from/--to as KST times of day with fractions (as the records print them) work."""
    code, out, _ = run(
        "replay", str(sample_root), "--from", "10:00:00.5", "--to", "10:59:59.999000"
    )
    expected = [
        s
        for s in open_archive(sample_root).snapshots()
        if dt.time(10, 0, 0, 500_000)
        <= s.exchange_time.astimezone(KST).time().replace(tzinfo=None)
        < dt.time(10, 59, 59, 999_000)
    ]
    assert (0, True, expected) == (code, len(expected) > 0, decode_lines(out))


def test_replay_instant_window_on_receive_clock(sample_root: Path) -> None:
    """--clock receive with ISO datetimes filters on receive time (offset-less means KST)."""
    start = dt.datetime(2026, 11, 24, 9, 0, 1, tzinfo=KST)
    end = dt.datetime(2026, 11, 24, 9, 0, 30, tzinfo=KST)
    _, out, _ = run(
        "replay",
        str(sample_root),
        "--clock",
        "receive",
        "--from",
        "2026-11-24T09:00:01",
        "--to",
        "2026-11-24T00:00:30+00:00",
    )
    expected = list(open_archive(sample_root).snapshots(receive_window=(start, end)))
    assert (True, expected) == (len(expected) > 0, decode_lines(out))


def test_replay_csv_has_one_row_per_snapshot_with_flat_columns(
    sample_root: Path, tmp_path: Path
) -> None:
    """CSV output holds every snapshot, structs flattened and depth as JSON arrays."""
    target = tmp_path / "out.csv"
    code, _, _ = run(
        "replay", str(sample_root), "--mode", "scalp", "--format", "csv", "-o", str(target)
    )
    table = pcsv.read_csv(target)
    snaps = list(open_archive(sample_root).snapshots(mode="scalp"))
    first = table.slice(0, 1).to_pylist()[0]
    assert (0, len(snaps), snaps[0].bid_prices, snaps[0].enrichment.mid) == (  # type: ignore[union-attr]
        code,
        table.num_rows,
        tuple(msgspec.json.decode(first["bid_prices"])),
        first["enrichment.mid"],
    )


def test_replay_parquet_equals_the_arrow_table(sample_root: Path, tmp_path: Path) -> None:
    """Parquet output reads back as the query's Arrow table."""
    target = tmp_path / "out.parquet"
    code, _, _ = run("replay", str(sample_root), "--format", "parquet", "-o", str(target))
    assert (0, query_snapshots(sample_root).to_arrow()) == (code, pq.read_table(target))


def test_parquet_needs_an_output_file(sample_root: Path) -> None:
    """--format parquet without --output is a usage error, not binary on a terminal."""
    code, out, err = run("replay", str(sample_root), "--format", "parquet")
    expected = (2, b"", True)
    assert expected == (code, out, "--output" in err)


class FakeTime:
    """A wall clock that only sleeping moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pace_spreads_output_over_recorded_span_divided_by_pace(sample_root: Path) -> None:
    """At pace 60, first-to-latest exchange time of the output takes 1/60 of it in wall time."""
    query = query_snapshots(sample_root, dates=[DAY1])
    out = io.BytesIO()
    clock = FakeTime()
    replay(query, out, pace=60, sleep=clock.sleep, monotonic=clock.monotonic)
    times = [s.exchange_time for s in decode_lines(out.getvalue())]
    span = (max(times) - times[0]).total_seconds()
    assert pytest.approx(span / 60) == clock.now - 100.0


def test_paced_output_interleaves_partitions_in_time_order(sample_root: Path) -> None:
    """Pacing merges the swing and scalp partitions into exchange-time order."""
    query = query_snapshots(sample_root, dates=[DAY1])
    out = io.BytesIO()
    clock = FakeTime()
    replay(query, out, pace=1e6, sleep=clock.sleep, monotonic=clock.monotonic)
    snaps = decode_lines(out.getvalue())
    switches = sum(a.mode != b.mode for a, b in itertools.pairwise(snaps))
    times = [s.exchange_time for s in snaps]
    assert (True, sorted(times), 0) == (switches > 1, times, query.late)


def test_pace_must_be_positive(sample_root: Path) -> None:
    """--pace 0 is refused with a message."""
    code, _, err = run("replay", str(sample_root), "--pace", "0")
    expected = (2, True)
    assert expected == (code, "--pace" in err)


def test_progress_callback_counts_every_record(sample_root: Path) -> None:
    """The progress callback is told about every record written."""
    seen: list[int] = []
    result = replay(query_snapshots(sample_root), io.BytesIO(), progress=seen.append)
    assert result.records == sum(seen)


def test_no_progress_bar_when_stdout_is_not_a_terminal(sample_root: Path, tmp_path: Path) -> None:
    """Under a pipe (CliRunner is one) nothing but data is written: stderr stays empty."""
    code, _, err = run("replay", str(sample_root), "-o", str(tmp_path / "x.jsonl"))
    expected = (0, "")
    assert expected == (code, err)


def test_progress_bar_does_not_stop_replay_at_a_missing_manifest(
    own_root: Path, tmp_path: Path
) -> None:
    """The bar's total cannot count a segment without its manifest; replay still runs."""
    next(own_root.rglob("*.manifest.json")).unlink()
    target = tmp_path / "x.jsonl"
    code, _, _ = run("replay", str(own_root), "--progress", "-o", str(target))
    assert (0, list(open_archive(own_root).snapshots())) == (
        code,
        decode_lines(target.read_bytes()),
    )


def test_forced_progress_bar_writes_to_stderr_only(sample_root: Path, tmp_path: Path) -> None:
    """--progress draws on stderr; the output file is still exactly the data."""
    target = tmp_path / "x.jsonl"
    code, out, _ = run("replay", str(sample_root), "--progress", "-o", str(target))
    assert (0, b"", list(open_archive(sample_root).snapshots())) == (
        code,
        out,
        decode_lines(target.read_bytes()),
    )


def test_records_beyond_the_reorder_window_are_a_note(sample_root: Path) -> None:
    """--order time with a zero window cannot reorder: what comes out of order is counted
    in a note on stderr, and every record is still written."""
    code, out, err = run(
        "replay", str(sample_root), "--order", "time", "--clock", "receive", "--reorder-window", "0"
    )
    late = [line for line in err.splitlines() if "came out of time order" in line]
    expected = (0, len(list(open_archive(sample_root).snapshots())), 1)
    assert expected == (code, len(decode_lines(out)), len(late))
