"""Coverage and loss by minute of the session, as PNG (matplotlib, Agg) or HTML (inline SVG).

One pair of panels per trading day:

- top: coverage — per (mode, source), the share of the observations expected by the cycles
  that started in that minute which were kept (archived, or deduplicated: not loss);
  100 % = nothing missing. Without a ledger: snapshots per minute against the busiest one;
- bottom: loss — observations lost per minute, stacked by cause.

The x axis is the KST clock: 09:00 to 15:30 for a day's run (widened when data falls
outside), the data's own extent for a short one. matplotlib
comes with the ``analysis`` extra; the Agg backend needs no display.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ._report import MinuteSeries, Report, ReportRow, summarize_causes

__all__ = ["write_plot"]

_OPEN = 9 * 60
_CLOSE = 15 * 60 + 30


def _figure(report: Report) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    days = sorted({m.date for m in report.minutes})
    if not days:
        fig, ax = plt.subplots(figsize=(10, 2))
        ax.text(0.5, 0.5, "no data", ha="center", va="center")
        ax.set_axis_off()
        return fig
    fig, axes = plt.subplots(
        2 * len(days),
        1,
        figsize=(13, 5.2 * len(days)),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 2] * len(days)},
    )
    clock = FuncFormatter(lambda x, _: f"{int(x) // 60:02d}:{int(x) % 60:02d}")
    for i, day in enumerate(days):
        cover, loss = axes[2 * i][0], axes[2 * i + 1][0]
        series = [m for m in report.minutes if m.date == day]
        lo, hi = _extent(series)
        lowest = min([_coverage(cover, m) for m in series], default=100.0)
        cover.set_title(
            f"{day.isoformat()} — coverage (expected observations kept, by cycle start minute)",
            loc="left",
            fontsize=11,
        )
        cover.set_ylabel("coverage %")
        # Zoom on the dips when coverage stays high (a 0-100 axis hides a 3 % dip), keeping
        # room under the data for the summary box.
        cover.set_ylim(0 if lowest < 50 else math.floor(lowest / 10) * 10 - 20, 102)
        cover.axhline(100, color="0.7", linewidth=0.8, linestyle="--")
        cover.legend(loc="lower right", fontsize=8, frameon=False)
        rows = [r for r in report.rows if r.date == day and r.symbol is None]
        cover.text(
            0.005,
            0.04,
            _summary(rows),
            transform=cover.transAxes,
            fontsize=8,
            family="monospace",
            va="bottom",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"},
        )
        _loss(loss, series)
        loss.set_title(
            f"{day.isoformat()} — lost observations per minute, by cause", loc="left", fontsize=11
        )
        loss.set_ylabel("lost")
        step = 1 if hi - lo <= 15 else 5 if hi - lo <= 40 else 15 if hi - lo <= 150 else 30
        for ax in (cover, loss):
            ax.set_xlim(lo - 1, hi + 2)
            ax.xaxis.set_major_locator(MultipleLocator(step))
            ax.xaxis.set_major_formatter(clock)
            ax.grid(axis="x", color="0.92")
        loss.set_xlabel("KST")
    fig.tight_layout()
    return fig


def _extent(series: list[MinuteSeries]) -> tuple[int, int]:
    """Minutes to draw: the session (09:00-15:30) when the data spans most of it, else the
    data's own extent (a short run is not squeezed into a corner)."""
    minutes = set().union(*(_keys(m) for m in series))
    if not minutes:
        return _OPEN, _CLOSE
    lo, hi = min(minutes), max(minutes)
    if hi - lo >= (_CLOSE - _OPEN) // 2:
        return min(lo, _OPEN), max(hi, _CLOSE)
    return lo, hi


def _keys(m: MinuteSeries) -> set[int]:
    return set(m.snapshots) | set(m.expected)


def _coverage(ax: Any, m: MinuteSeries) -> float:
    """Draw one partition's coverage line; returns its lowest point (100 when none)."""
    minutes = sorted(_keys(m))
    if not minutes:
        return 100.0
    label = f"{m.mode} / {m.source}"
    if m.expected:
        xs = sorted(m.expected)
        ys = [
            100.0 * (m.expected[x] - sum(m.lost.get(x, {}).values())) / m.expected[x]
            if m.expected[x]
            else 100.0
            for x in xs
        ]
        ax.plot(xs, ys, marker=".", markersize=3, linewidth=1, label=label)
        return min(ys)
    # no ledger: draw snapshots per minute scaled to the busiest minute
    top = max(m.snapshots.values())
    xs = sorted(m.snapshots)
    ax.plot(
        xs,
        [100.0 * m.snapshots[x] / top for x in xs],
        linewidth=1,
        label=f"{label} (no ledger: share of busiest minute)",
    )
    return 0.0


def _loss(ax: Any, series: list[MinuteSeries]) -> None:
    by_cause: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for m in series:
        for minute, causes in m.lost.items():
            for cause, n in causes.items():
                by_cause[f"{m.mode}: {cause}"][minute] += n
    if not by_cause:
        # (without a ledger nothing was booked: "no loss" would claim what is unknown)
        text = "no loss" if any(m.expected for m in series) else "no ledger: loss unknown"
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
        return
    bottoms: dict[int, int] = defaultdict(int)
    for cause in sorted(by_cause, key=lambda c: -sum(by_cause[c].values())):
        xs = sorted(by_cause[cause])
        ys = [by_cause[cause][x] for x in xs]
        ax.bar(xs, ys, width=1.0, bottom=[bottoms[x] for x in xs], label=cause, align="edge")
        for x, y in zip(xs, ys, strict=True):
            bottoms[x] += y
    ax.legend(loc="upper right", fontsize=8, frameon=False)


def _summary(rows: list[ReportRow]) -> str:
    lines = []
    for r in rows:
        covered = f"covered {r.minutes_covered}/{r.span_minutes} min"
        if not r.cycles:  # no ledger: nothing was expected or booked, only snapshots counted
            lines.append(
                f"{r.mode:<5} {r.source:<9} snapshots {r.snapshots:>6}  (no ledger)  {covered}"
            )
            continue
        lines.append(
            f"{r.mode:<5} {r.source:<9} expected {r.expected:>7}  archived {r.archived:>7}  "
            f"loss {100 * r.loss_rate:6.3f} %  {covered}"
        )
    return "\n".join(lines)


def write_plot(report: Report, path: Path) -> None:
    """PNG when ``path`` ends in .png, HTML (SVG inline, with the table) when .html/.htm."""
    import matplotlib.pyplot as plt

    suffix = path.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise ValueError(f"{path}: --plot writes .png or .html")
    fig = _figure(report)
    try:
        if suffix == ".png":
            fig.savefig(path, dpi=110)
            return
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg")
        svg = base64.b64encode(buffer.getvalue()).decode()
        path.write_text(_html(report, svg), encoding="utf-8")
    finally:
        plt.close(fig)


def _html(report: Report, svg_b64: str) -> str:
    head = (
        "date",
        "mode",
        "source",
        "symbol",
        "cycles",
        "expected",
        "archived",
        "lost",
        "loss %",
        "causes",
        "covered min",
        "gaps",
        "reconnects",
        "p50 ms",
        "p99 ms",
    )
    body = []
    for r in report.rows:
        cells = (
            r.date.isoformat(),
            r.mode,
            r.source,
            r.symbol or "",
            r.cycles,
            r.expected,
            r.archived,
            r.lost,
            f"{100 * r.loss_rate:.3f}",
            summarize_causes(r.causes),
            f"{r.minutes_covered}/{r.span_minutes}",
            r.gaps,
            r.reconnects,
            _ms(r.latency_ms_p50),
            _ms(r.latency_ms_p99),
        )
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>kis-observer report</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "th{background:#f3f3f3}</style></head><body><h1>kis-observer report</h1>"
        "<table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(body)
        + "</table>"
        f"<p><img alt='coverage and loss by minute' src='data:image/svg+xml;base64,{svg_b64}'>"
        "</p></body></html>\n"
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"
