"""``observer compact``: recompress the sealed segments of closed trading days."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["compact_command"]


class _BadRequest(click.ClickException):
    """Nothing to compact as asked (not an archive root, no such day): exit status 2."""

    exit_code = 2


@click.command("compact")
@click.argument("root", type=click.Path(path_type=Path))
@click.option(
    "--date",
    "dates",
    multiple=True,
    required=True,
    help=(
        "Trading day to compact: YYYY-MM-DD or a range A..B (repeatable; days without "
        "segments in a range are passed over). Never today's open day."
    ),
)
@click.option("--level", default=17, show_default=True, type=click.IntRange(1, 22))
@click.option("--workers", default=0, type=click.IntRange(0), help="Parallel frames (0: CPUs).")
def compact_command(root: Path, dates: tuple[str, ...], level: int, workers: int) -> None:
    """Recompress a closed day's segments at a high zstd level, manifests kept true."""
    from archive import ArchiveError, Family, compact_day, open_archive
    from observer.analyst._errors import AnalystError
    from observer.analyst._inputs import check_root, parse_dates

    try:
        root = check_root(root)
        days = parse_dates(dates) or []
    except (AnalystError, ValueError) as exc:
        raise _BadRequest(str(exc)) from None
    reader = open_archive(root, skip_corrupt=True)  # a bad directory stops only its own day
    present = sorted({p.date for family in Family for p in reader.partitions(family)})
    chosen = [day for day in days if day in present]
    if not chosen:
        asked = ", ".join(dates)
        listed = ", ".join(d.isoformat() for d in present[-10:]) or "none"
        raise _BadRequest(f"{root}: nothing archived on {asked} (dates present: {listed})")
    for day in chosen:
        try:
            report = compact_day(root, day, level=level, workers=workers)
        except ArchiveError as exc:
            raise click.ClickException(str(exc)) from exc
        before, after = report.bytes_before, report.bytes_after
        ratio = f" ({after / before:.2f}x)" if before else ""
        click.echo(
            f"{day}: {len(report.segments)} segment(s) compacted, "
            f"{len(report.skipped)} already done, {before:,} -> {after:,} bytes{ratio}"
        )
