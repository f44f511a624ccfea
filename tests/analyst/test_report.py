"""``observer report``: loss from the ledger, coverage and gaps, reconnects, latency, plots."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import msgspec
from click.testing import CliRunner

from archive import ArchiveWriter, open_archive
from observer.analyst._report import MinuteSeries, ReportRow, build_report
from observer.cli import cli
from pipeline import (
    KST,
    Environment,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    Source,
    WsFrame,
    loss_rate,
)
from tests.analyst.helpers import DAY1, cycle_events


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_rows_carry_the_ledger_totals_and_its_loss_rate(sample_root: Path) -> None:
    """Each (day, mode, source) row sums that partition's ledger; loss rate via loss_rate."""
    entries = list(open_archive(sample_root).ledger(dates=[DAY1], mode="swing"))
    (row,) = build_report(sample_root, dates=[DAY1], mode="swing").rows
    expected = (
        len(entries),
        sum(e.expected for e in entries),
        sum(e.archived for e in entries),
        loss_rate(entries),
    )
    assert expected == (row.cycles, row.expected, row.archived, row.loss_rate)


def test_causes_account_for_every_lost_observation(sample_root: Path) -> None:
    """The causes of a row add up to its loss (rejected + dropped + failed)."""
    rows = build_report(sample_root).rows
    assert [r.lost for r in rows] == [sum(r.causes.values()) for r in rows]


def test_snapshot_count_matches_ledger_archived(sample_root: Path) -> None:
    """A complete archive holds as many snapshots as its ledger says it archived."""
    rows = build_report(sample_root).rows
    assert [r.archived for r in rows] == [r.snapshots for r in rows]


def test_latency_percentiles_are_nearest_rank_of_receive_minus_exchange(
    sample_root: Path,
) -> None:
    """p50/p99/max of receive − exchange in ms, nearest rank."""
    snaps = list(open_archive(sample_root).snapshots(dates=[DAY1], mode="scalp"))
    values = sorted((s.receive_time - s.exchange_time).total_seconds() * 1000 for s in snaps)
    (row,) = build_report(sample_root, dates=[DAY1], mode="scalp").rows
    expected = (
        values[math.ceil(len(values) * 0.5) - 1],
        values[math.ceil(len(values) * 0.99) - 1],
        values[-1],
    )
    assert expected == (row.latency_ms_p50, row.latency_ms_p99, row.latency_ms_max)


def _snap(seq: int, minute: int) -> ObservationSnapshot:
    t = dt.datetime.combine(DAY1, dt.time(9, 0), KST) + dt.timedelta(minutes=minute, seconds=5)
    return ObservationSnapshot(
        seq=seq,
        symbol="005930",
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY1,
        exchange_time=t,
        receive_time=t.astimezone(dt.UTC),
        cycle_id="c",
        last=70000,
    )


def _entry(count: int, **extra: int) -> LedgerEntry:
    """Cycle c's ledger entry (scalp, kis-ws, 09:00): ``count`` expected, received, archived."""
    at = dt.datetime.combine(DAY1, dt.time(9, 0), KST)
    return LedgerEntry(
        seq=9,
        cycle_id="c",
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY1,
        started_at=at,
        ended_at=at,
        expected=count,
        received=count,
        archived=count,
        **extra,
    )


def test_a_silent_stretch_is_one_gap(tmp_path: Path) -> None:
    """Snapshots in minutes 0-9 and 20-29: one gap of 10 minutes, 20 of 30 covered."""
    minutes = [*range(10), *range(20, 30)]
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([_snap(i + 1, m) for i, m in enumerate(minutes)])
    (row,) = build_report(tmp_path).rows
    expected = (1, 10, 20, 30)
    assert expected == (row.gaps, row.longest_gap_min, row.minutes_covered, row.span_minutes)


def test_a_cycle_ending_just_past_its_minute_opens_no_gap(tmp_path: Path) -> None:
    """Scalp cycles of minutes 0-9, each ending 50 ms into the next minute, with snapshots in
    every one of them: 10 of 10 minutes covered, no gap (the last end is not a missed minute)."""
    start = dt.datetime.combine(DAY1, dt.time(9, 0), KST)
    entries = [
        LedgerEntry(
            seq=100 + m,
            cycle_id=f"scalp-{m}",
            mode=Mode.SCALP,
            source=Source.KIS_WS,
            environment=Environment.SIM,
            trading_day=DAY1,
            started_at=start + dt.timedelta(minutes=m),
            ended_at=start + dt.timedelta(minutes=m + 1, milliseconds=50),
            expected=1,
            received=1,
            archived=1,
        )
        for m in range(10)
    ]
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([_snap(m + 1, m) for m in range(10)])
        writer.append_many(entries)
    (row,) = build_report(tmp_path).rows
    expected = (0, 0, 10, 10)
    assert expected == (row.gaps, row.longest_gap_min, row.minutes_covered, row.span_minutes)


def _ack(seq: int, key: str) -> WsFrame:
    text = msgspec.json.encode(
        {
            "header": {"tr_id": "H0STCNT0", "tr_key": key, "encrypt": "N"},
            "body": {"rt_cd": "0", "msg_cd": "OPSP0000", "msg1": "SUBSCRIBE SUCCESS"},
        }
    ).decode()
    return WsFrame(
        seq=seq,
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=DAY1,
        receive_time=dt.datetime(2026, 11, 24, 0, 0, seq, tzinfo=dt.UTC),
        text=text,
    )


def test_reconnects_count_repeated_subscription_acks(tmp_path: Path) -> None:
    """Three acks of the same subscription (two symbols each time) are two reconnects."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        frames = [_ack(i * 2 + 1, "005930") for i in range(3)]
        frames += [_ack(i * 2 + 2, "000660") for i in range(3)]
        writer.append_many(sorted(frames, key=lambda f: f.seq))
        writer.append(_snap(1, 0))
    (row,) = build_report(tmp_path).rows
    assert row.reconnects == 2


def test_by_symbol_rows_add_up_to_the_partition(sample_root: Path) -> None:
    """--by symbol: per-symbol expected and lost sum to the partition's."""
    rows = build_report(sample_root, dates=[DAY1], mode="swing", by_symbol=True).rows
    total = next(r for r in rows if r.symbol is None)
    per_symbol = [r for r in rows if r.symbol is not None]
    expected = (total.expected, total.lost, total.archived)
    assert expected == (
        sum(r.expected for r in per_symbol),
        sum(r.lost for r in per_symbol),
        sum(r.archived for r in per_symbol),
    )


def test_json_output_is_the_report(sample_root: Path) -> None:
    """--json prints the rows build_report computes."""
    code, out, _ = run(str(sample_root), "--json")
    doc = msgspec.json.decode(out)
    rows = build_report(sample_root).rows
    expected = (0, [(str(r.date), r.mode, r.expected, r.loss_rate) for r in rows])
    assert expected == (
        code,
        [(r["date"], r["mode"], r["expected"], r["loss_rate"]) for r in doc["rows"]],
    )


def test_terminal_table_names_every_partition(sample_root: Path) -> None:
    """The table shows one line per day, mode and source."""
    code, out, _ = run(str(sample_root), "--date", str(DAY1))
    expected = (0, True, True)
    assert expected == (code, "scalp" in out and "kis-ws" in out, "swing" in out)


def test_plot_png_is_written(sample_root: Path, tmp_path: Path) -> None:
    """--plot FILE.png writes a PNG image."""
    target = tmp_path / "day.png"
    code, _, _ = run(str(sample_root), "--plot", str(target))
    expected = (0, b"\x89PNG\r\n\x1a\n")
    assert expected == (code, target.read_bytes()[:8])


def test_plot_html_embeds_table_and_svg(sample_root: Path, tmp_path: Path) -> None:
    """--plot FILE.html writes one self-contained page: the table and the SVG chart."""
    target = tmp_path / "day.html"
    code, _, _ = run(str(sample_root), "--plot", str(target))
    page = target.read_text()
    expected = (0, True, True)
    assert expected == (code, "<table>" in page, "data:image/svg+xml;base64," in page)


def test_plot_other_suffix_is_refused(sample_root: Path, tmp_path: Path) -> None:
    """--plot with an unknown suffix is a usage error naming the file."""
    code, _, err = run(str(sample_root), "--plot", str(tmp_path / "x.pdf"))
    expected = (2, True)
    assert expected == (code, "write .png or .html" in err)


def test_a_cycle_no_ledger_entry_books_is_counted_and_warned(tmp_path: Path) -> None:
    """A cycle a crash left in the journal without a ledger entry (a day never resumed) is
    counted on its row with what it expected, and named in a warning."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many(cycle_events(ended=False))
    report = build_report(tmp_path)
    (row,) = report.rows
    expected = ((1, 2), 1, True)
    assert expected == (
        (row.unbooked_cycles, row.unbooked_expected),
        len(report.warnings),
        "scalp-20261124-090100" in report.warnings[0],
    )


def test_fewer_snapshots_than_the_ledger_archived_is_warned(tmp_path: Path) -> None:
    """The ledger says cycle c archived 3 snapshots, the archive holds 2: a warning."""
    entry = _entry(3)
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([_snap(1, 0), _snap(2, 0), entry])
    expected = [
        "2026-11-24 scalp kis-ws: the ledger says 3 snapshots archived, the archive holds 2 of "
        "its cycles: a segment deleted or lost, or records no entry counts; `observer verify` "
        "names the partition"
    ]
    assert expected == build_report(tmp_path).warnings


def test_a_source_filter_keeps_fallbacks_in_their_cycles_row(tmp_path: Path) -> None:
    """A scalp cycle's REST fallback counts in the cycle's kis-ws row, also when the report
    is filtered to kis-rest: there it is in no row, as unfiltered."""
    entry = _entry(1, rest_fallbacks=1)
    fallback = msgspec.structs.replace(_snap(1, 0), source=Source.KIS_REST)
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([fallback, entry])
    rows = [(r.mode, r.source, r.snapshots) for r in build_report(tmp_path).rows]
    filtered = [
        (r.mode, r.source, r.snapshots) for r in build_report(tmp_path, source="kis-rest").rows
    ]
    expected = ([("scalp", "kis-ws", 1)], [])
    assert expected == (rows, filtered)


def test_plot_draws_coverage_without_a_ledger() -> None:
    """Without a ledger the coverage panel still draws snapshots per minute (one line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from observer.analyst._plot import _coverage

    fig, ax = plt.subplots()
    try:
        _coverage(ax, MinuteSeries(DAY1, "swing", "kis-rest", snapshots={540: 300, 542: 150}))
        drawn = [list(line.get_ydata()) for line in ax.lines]
    finally:
        plt.close(fig)
    assert [[100.0, 50.0]] == drawn


def test_plot_summary_of_a_partition_without_a_ledger_counts_snapshots() -> None:
    """A row with no ledger reads 'snapshots N (no ledger)', not 'archived 0'."""
    from observer.analyst._plot import _summary

    row = ReportRow(DAY1, "swing", "kis-rest", snapshots=2574, span_minutes=3, minutes_covered=3)
    expected = "swing kis-rest  snapshots   2574  (no ledger)  covered 3/3 min"
    assert expected == _summary([row])


def test_snapshots_without_an_exchange_time_of_their_own_have_no_latency(tmp_path: Path) -> None:
    """REST prices carry no exchange time (the receive time stands in): no '0 ms' latency."""
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append_many([_snap(1, 0), _snap(2, 1)])  # exchange time == receive time
    (row,) = build_report(tmp_path).rows
    expected = (2, None, None)
    assert expected == (row.snapshots, row.latency_ms_p50, row.latency_ms_max)


def test_the_samples_bad_print_is_a_validation_rejection(sample_root: Path) -> None:
    """The sample's documented bad print is rejected outside_limits (not dropped by Guard)."""
    causes = [c for r in build_report(sample_root).rows for c in r.causes]
    expected = (2, [])  # one a day, two days
    assert expected == (
        causes.count("rejected:outside_limits"),
        [c for c in causes if c.startswith("dropped:")],
    )
