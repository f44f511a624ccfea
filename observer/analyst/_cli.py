"""The analyst commands: ``observer replay``, ``report``, ``verify`` and ``rederive``.

Each command checks its root and filters first (``NotAnArchiveError``, ``NoSuchDataError``),
then reads. Every error either tree raises on purpose becomes a one-line message on stderr
and a non-zero exit status, never a traceback:

- exit 1: the archive is damaged or differs (verify, rederive), or replay skipped damage;
- exit 2: the request is wrong (bad option, wrong root, nothing selected).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from pipeline import KST

__all__ = ["rederive_command", "replay_command", "report_command", "verify_command"]


class DataProblem(click.ClickException):
    """The archive is damaged or differs: exit status 1."""

    exit_code = 1


class BadRequest(click.ClickException):
    """The request cannot be served as asked (wrong root, nothing selected): exit status 2."""

    exit_code = 2


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn our error trees into one-line messages (see the module doc)."""
    from archive import ArchiveError

    from ._errors import AnalystError, ProjectionFailedError

    try:
        yield
    except ProjectionFailedError as exc:
        raise DataProblem(str(exc)) from None
    except AnalystError as exc:
        raise BadRequest(str(exc)) from None
    except ArchiveError as exc:
        raise DataProblem(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _bound(value: str | None, option: str) -> dt.datetime | dt.time | None:
    """``--from``/``--to``: an ISO datetime (KST when it has no offset) or a KST time of day."""
    if value is None:
        return None
    text = value.strip()
    try:
        if "T" in text or " " in text or text[4:5] == "-":  # (a date first: 2026-11-24…)
            moment = dt.datetime.fromisoformat(text)
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=KST)
        return dt.time.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected an ISO datetime (2026-11-24T09:30, KST unless it has an "
            "offset) or a KST time of day (09:30)",
            param_hint=option,
        ) from None


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """Refuse NaN (a range check lets it through: every comparison with it is false)."""
    if value != value:
        raise click.BadParameter("must be a number of seconds, not nan")
    return value


def _progress_wanted(flag: bool | None, output: Path | None) -> bool:
    if flag is not None:
        return flag
    # On a terminal only: never when stdout is piped, and not while data itself scrolls by.
    return output is not None and sys.stdout.isatty() and sys.stderr.isatty()


def _stderr(message: str) -> None:
    click.echo(message, err=True)


# ---------------------------------------------------------------------- replay


@click.command("replay")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--date", "dates", multiple=True, help="YYYY-MM-DD or a range A..B (repeatable).")
@click.option("--from", "start", help="Start (inclusive): ISO datetime, or KST time of day 09:30.")
@click.option("--to", "end", help="End (exclusive): ISO datetime, or KST time of day 15:30.")
@click.option(
    "--clock",
    type=click.Choice(["exchange", "receive"]),
    default="exchange",
    show_default=True,
    help="Which timestamp --from/--to and --pace use.",
)
@click.option("--symbol", "symbols", multiple=True, help="Only this symbol (repeatable).")
@click.option("--mode", help="swing or scalp.")
@click.option("--source", help="kis-rest, kis-ws, ...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default="jsonl",
    show_default=True,
)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="File (default stdout).")
@click.option("--pace", type=float, help="Emit at N× the recorded speed (JSON Lines).")
@click.option(
    "--order",
    type=click.Choice(["partition", "time"]),
    default=None,
    help="partition (disk order, fastest; default) or time (merged; implied by --pace).",
)
@click.option(
    "--reorder-window",
    type=click.FloatRange(min=0, max=86_400),
    callback=_finite,
    default=5.0,
    show_default=True,
    help=(
        "--order time: seconds a record may be out of place and still come out in order "
        "(records further back are counted and reported)."
    ),
)
@click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first damaged frame or line; a record out of time order is an error.",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: auto).")
def replay_command(
    root: Path,
    dates: tuple[str, ...],
    start: str | None,
    end: str | None,
    clock: str,
    symbols: tuple[str, ...],
    mode: str | None,
    source: str | None,
    fmt: str,
    output: Path | None,
    pace: float | None,
    order: str | None,
    reorder_window: float,
    strict: bool,
    progress: bool | None,
) -> None:
    """Replay archived snapshots as JSON Lines (default), CSV or Parquet."""
    from archive import Family, query_snapshots

    from ._inputs import check_root, parse_dates, select_partitions
    from ._replay import Format, replay

    lower, upper = _bound(start, "--from"), _bound(end, "--to")
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    if pace is not None and pace <= 0:
        raise click.BadParameter("must be > 0", param_hint="--pace")
    if pace is not None and fmt != "jsonl":  # (before --output is opened: no empty file)
        raise click.UsageError("--pace applies to JSON Lines output only (--format jsonl)")
    with _clear_errors():
        root = check_root(root)
        days = parse_dates(dates)
        select_partitions(root, Family.SNAPSHOTS, dates=days, mode=mode, source=source)
        query = query_snapshots(
            root,
            dates=days,
            symbols=symbols or None,
            mode=mode,
            source=source,
            start=lower,
            end=upper,
            clock="receive" if clock == "receive" else "exchange",
            skip_corrupt=not strict,
            skip_newer=not strict,
            reorder_window=dt.timedelta(seconds=reorder_window),
        )
        for partition in query.partitions():
            if not query.reader.segments(partition):
                _stderr(f"note: {partition} holds no segments (an empty day)")
        show = _progress_wanted(progress, output)
        with _open_output(output) as out, _progress_bar(show, query) as advance:
            try:
                result = replay(
                    query,
                    out,
                    fmt=Format(fmt),
                    pace=pace,
                    order="time" if order == "time" else "partition",
                    progress=advance,
                )
            except BrokenPipeError:
                _silence_stdout()
                raise click.exceptions.Exit(1) from None
    report = query.report
    for span in report.corrupt:
        where = f"line {span.line}" if span.line is not None else f"{span.length} bytes"
        _stderr(
            f"warning: skipped damaged data in {span.path} at byte {span.offset} ({where}): "
            f"{span.reason}"
        )
    if report.open_tail_bytes:
        _stderr(
            f"note: {report.open_tail_bytes} bytes past the last complete frame of open "
            "segments were not read (a writer is still at work, or a crash not yet recovered)"
        )
    for newer in query.newer:
        _stderr(f"warning: stopped reading its partition: {newer}")
    if result.records == 0:
        _stderr("note: no snapshots match the filters")
    if query.late:
        late = (
            f"{query.late} record(s) came out of time order: further out of place than "
            f"--reorder-window {reorder_window:g} s can put right; "
            f"--reorder-window {query.late_worst.total_seconds():g} would"
        )
        if strict:
            raise DataProblem(late)
        _stderr(f"note: {late}")
    if report.corrupt or query.newer:
        raise DataProblem(
            f"replayed {result.records} records; skipped {len(report.corrupt)} damaged "
            f"span(s) and {len(query.newer)} partition tail(s) of a newer schema, listed "
            "above (everything else was replayed)"
        )


@contextlib.contextmanager
def _open_output(output: Path | None) -> Iterator[IO[bytes]]:
    if output is None:
        yield sys.stdout.buffer
        return
    try:
        fh = open(output, "wb")  # noqa: SIM115 - closed below, after the writer is done
    except OSError as exc:
        raise BadRequest(f"{output}: cannot write: {exc.strerror}") from None
    with fh:
        yield fh


@contextlib.contextmanager
def _progress_bar(show: bool, query: Any) -> Iterator[Any]:
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    total, open_segments = query.sealed_record_count()
    with Progress(
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=None if open_segments else total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance


def _silence_stdout() -> None:
    # The reader went away (``| head``): point stdout at /dev/null so the interpreter's
    # final flush does not raise again (Python docs, "Note on SIGPIPE").
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


# ---------------------------------------------------------------------- verify

_MAX_SKEW_S = 86_400.0  # a day: a step back beyond it is records of another day


@click.command("verify")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--date", "dates", multiple=True, help="YYYY-MM-DD or a range A..B (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Problems only, no notes or summary.")
@click.option(
    "--max-skew",
    type=click.FloatRange(min=0, max=_MAX_SKEW_S),
    callback=_finite,
    default=60.0,
    show_default=True,
    help="Seconds a journal's receive time may step back before it is a problem.",
)
def verify_command(
    root: Path, dates: tuple[str, ...], as_json: bool, quiet: bool, max_skew: float
) -> None:
    """Check every segment against its manifest; exit 1 on any problem."""
    import msgspec

    from ._inputs import check_root, parse_dates
    from ._verify import verify_archive

    with _clear_errors():
        root = check_root(root)
        days = parse_dates(dates)
        result = verify_archive(root, dates=days, max_skew=dt.timedelta(seconds=max_skew))
    if result.partitions == 0 and days is not None:  # (before any output: no "ok": true)
        raise BadRequest(f"{root}: no partitions on " + ", ".join(d.isoformat() for d in days))
    if as_json:
        doc = {
            "ok": result.ok,
            "partitions": result.partitions,
            "sealed_segments": result.sealed_segments,
            "open_segments": result.open_segments,
            "records": result.records,
            "problems": [{"path": f.path, "message": f.message} for f in result.problems],
            "notes": [{"path": f.path, "message": f.message} for f in result.notes],
        }
        click.echo(msgspec.json.format(msgspec.json.encode(doc)).decode())
    else:
        for finding in result.problems:
            click.echo(f"PROBLEM {finding.path}: {finding.message}")
        if not quiet:
            for finding in result.notes:
                click.echo(f"note    {finding.path}: {finding.message}")
            click.echo(
                f"verified {result.sealed_segments} sealed segment(s), {result.records} "
                f"records in {result.partitions} partition(s); {result.open_segments} open; "
                f"{len(result.problems)} problem(s), {len(result.notes)} note(s)"
            )
    if not result.ok:
        raise click.exceptions.Exit(1)


# ---------------------------------------------------------------------- report


@click.command("report")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--date", "dates", multiple=True, help="YYYY-MM-DD or a range A..B (repeatable).")
@click.option("--mode", help="swing or scalp.")
@click.option("--source", help="kis-rest, kis-ws, ...")
@click.option(
    "--by",
    type=click.Choice(["partition", "symbol"]),
    default="partition",
    show_default=True,
    help="Rows per (day, mode, source), or per symbol too.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    help="Write coverage and loss by minute to FILE (.png or .html).",
)
def report_command(
    root: Path,
    dates: tuple[str, ...],
    mode: str | None,
    source: str | None,
    by: str,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Per day, mode and source: expected, archived, loss rate and causes, coverage, latency."""
    from archive import Family

    from ._errors import NoSuchDataError
    from ._inputs import check_root, parse_dates, select_partitions
    from ._report import build_report

    if plot is not None and plot.suffix.lower() not in (".png", ".html", ".htm"):
        raise click.BadParameter(f"{plot}: write .png or .html", param_hint="--plot")
    with _clear_errors():
        root = check_root(root)
        days = parse_dates(dates)
        try:
            select_partitions(root, Family.LEDGER, dates=days, mode=mode, source=source)
        except NoSuchDataError:  # no ledger: the snapshots must then exist
            select_partitions(root, Family.SNAPSHOTS, dates=days, mode=mode, source=source)
        report = build_report(root, dates=days, mode=mode, source=source, by_symbol=by == "symbol")
        if plot is not None:
            from ._plot import write_plot

            try:
                write_plot(report, plot)
            except OSError as exc:
                raise BadRequest(f"{plot}: cannot write: {exc.strerror or exc}") from None
    if as_json:
        click.echo(report.to_json().decode())
    else:
        _print_report(report)
        if plot is not None:
            _stderr(f"wrote {plot}")
    for warning in report.warnings:
        _stderr(f"warning: {warning}")
    for span in report.skipped:
        _stderr(
            f"warning: skipped damaged data in {span.path} at byte {span.offset}: {span.reason}"
        )
    if report.skipped:
        raise DataProblem(f"{len(report.skipped)} damaged span(s) skipped; figures exclude them")


def _print_report(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from ._report import summarize_causes

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    table = Table(title="kis-observer report", title_justify="left")
    for name, justify in (
        ("date", "left"),
        ("mode", "left"),
        ("source", "left"),
        ("symbol", "left"),
        ("cycles", "right"),
        ("expected", "right"),
        ("archived", "right"),
        ("snapshots", "right"),
        ("lost", "right"),
        ("loss %", "right"),
        ("causes", "left"),
        ("covered min", "right"),
        ("gaps", "right"),
        ("longest gap", "right"),
        ("reconnects", "right"),
        ("unbooked", "right"),
        ("p50 ms", "right"),
        ("p90 ms", "right"),
        ("p99 ms", "right"),
        ("max ms", "right"),
    ):
        if name == "symbol" and not any(r.symbol for r in report.rows):
            continue
        if name == "unbooked" and not any(r.unbooked_cycles for r in report.rows):
            continue
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    with_symbol = any(r.symbol for r in report.rows)
    with_unbooked = any(r.unbooked_cycles for r in report.rows)
    for r in report.rows:
        loss = f"{100 * r.loss_rate:.3f}"
        style = "red" if r.loss_rate >= 0.001 or r.unbooked_cycles else None
        cells = [r.date.isoformat(), r.mode, r.source]
        if with_symbol:
            cells.append(r.symbol or "all")
        cells += [
            str(r.cycles) if r.symbol is None else "",
            str(r.expected),
            str(r.archived),
            str(r.snapshots),
            str(r.lost),
            loss,
            summarize_causes(r.causes),
            f"{r.minutes_covered}/{r.span_minutes}",
            str(r.gaps),
            f"{r.longest_gap_min}",
            str(r.reconnects) if r.symbol is None else "",
        ]
        if with_unbooked:
            cells.append(
                f"{r.unbooked_cycles} ({r.unbooked_expected} exp.)" if r.unbooked_cycles else ""
            )
        cells += [
            _fmt_ms(v)
            for v in (r.latency_ms_p50, r.latency_ms_p90, r.latency_ms_p99, r.latency_ms_max)
        ]
        table.add_row(*cells, style=style)
    console.print(table)


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


# ---------------------------------------------------------------------- rederive


def _cpus() -> int:
    """The CPUs this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@click.command("rederive")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--date", "dates", multiple=True, help="YYYY-MM-DD or a range A..B (repeatable).")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Keep the re-derived archive in this new directory.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help=(
        "Derive with this pipeline config TOML instead of the one the journal records "
        "for each cycle (a what-if; the archive will differ where it matters)."
    ),
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Days derived at once, each in a worker process [default: one per CPU].",
)
def rederive_command(
    root: Path,
    dates: tuple[str, ...],
    output: Path | None,
    config_file: Path | None,
    jobs: int | None,
) -> None:
    """Re-run the pipeline over the raw journal; compare with the archive byte for byte."""
    from archive import Family
    from observer._errors import ConfigError
    from observer.collect import read_pipeline_config

    from ._inputs import check_root, parse_dates, select_partitions
    from ._rederive import default_projection, rederive

    with _clear_errors():
        root = check_root(root)
        days = parse_dates(dates)
        select_partitions(root, Family.RAW, dates=days, mode=None, source=None)
        try:
            config = None if config_file is None else read_pipeline_config(config_file)
        except ConfigError as exc:
            raise BadRequest(str(exc)) from None
        result = rederive(
            root,
            project=default_projection(config),
            dates=days,
            output=output,
            jobs=jobs or _cpus(),
        )
    for partition, count in result.compared.items():
        click.echo(f"compared {count:>9} records  {partition}")
    for day, pid in result.live_days.items():
        click.echo(
            f"skipped {day}: a live writer (pid {pid}) still writes it, its records on their "
            "way to the disk; rederive it once the run has ended"
        )
    if result.recovery_entries:
        click.echo(
            f"left out {result.recovery_entries} ledger entries booked by recovery "
            "(torn tails are not in the journal)"
        )
    for day in result.days_without_journal:
        click.echo(f"DIFFERENCE {day}: snapshots or ledger but no raw journal to derive them from")
    for difference in result.differences:
        click.echo("DIFFERENCE " + difference.describe())
    if output is not None:
        click.echo(f"re-derived archive written to {output}")
    if not result.identical:
        raise DataProblem(
            f"{len(result.differences) + len(result.days_without_journal)} partition(s) differ "
            f"from their re-derivation over {result.raw_events} raw events"
        )
    click.echo(
        f"identical: {sum(result.compared.values())} records re-derived from "
        f"{result.raw_events} raw events, byte for byte"
    )
