"""``observer compact``: recompress the sealed segments of closed trading days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

__all__ = ["compact_command"]


@click.command("compact")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--date",
    "dates",
    multiple=True,
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Trading day to compact (YYYY-MM-DD); repeat for several. Never today's open day.",
)
@click.option("--level", default=17, show_default=True, type=click.IntRange(1, 22))
@click.option("--workers", default=0, type=click.IntRange(0), help="Parallel frames (0: CPUs).")
def compact_command(root: Path, dates: tuple[dt.datetime, ...], level: int, workers: int) -> None:
    """Recompress a closed day's segments at a high zstd level, manifests kept true."""
    from archive import ArchiveError, compact_day

    for day in dates:
        try:
            report = compact_day(root, day.date(), level=level, workers=workers)
        except ArchiveError as exc:
            raise click.ClickException(str(exc)) from exc
        before, after = report.bytes_before, report.bytes_after
        ratio = f" ({after / before:.2f}x)" if before else ""
        click.echo(
            f"{day.date()}: {len(report.segments)} segment(s) compacted, "
            f"{len(report.skipped)} already done, {before:,} -> {after:,} bytes{ratio}"
        )
