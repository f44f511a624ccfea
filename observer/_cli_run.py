"""``observer run``: the main job, against KIS (credentials) or the embedded simulator.

``observer run --simulate`` with no other flag starts the simulator in-process on loopback
at 09:00 KST of the latest trading day, runs ten simulated minutes at 10x (about a minute of
wall time: a swing cycle every two simulated minutes plus a final one, a scalp strike every
simulated second), seals the archive and prints where it is and its loss figure.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import anyio
import click
import msgspec

__all__ = ["run"]

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_EXIT_CONFIG = 2
_EXIT_RUNTIME = 1
_SIM_WARMUP = dt.timedelta(seconds=20)
_MAX_LENGTH_S = 24 * 3600
#: the fastest simulated run measured to keep up on two cores (README: a whole session at 20x)
_SIM_SPEED_MEASURED = 20.0


def _duration(text: str) -> dt.timedelta | None:
    """``10m``, ``1h30m``, ``90s``, ``600`` (seconds) or ``session`` (None: to the close)."""
    text = text.strip().lower()
    if text in ("session", "day", "close"):
        return None
    if text.isdigit():
        seconds = int(text)
    else:
        match = _DURATION.fullmatch(text)
        if not match or not any(match.groups()):
            raise click.UsageError(
                f"--length {text!r} is not a duration like 10m, 1h30m, 90s or 'session'"
            )
        h, m, s = (int(g) if g else 0 for g in match.groups())
        seconds = 3600 * h + 60 * m + s
    if not seconds:
        raise click.UsageError(f"--length {text!r}: the slice must last at least a second")
    if seconds > _MAX_LENGTH_S:  # a slice ends at the close anyway; past this, timedelta overflows
        raise click.UsageError(
            f"--length {text!r} is longer than a day: a slice ends at the close at the latest "
            "(--length session runs to it)"
        )
    return dt.timedelta(seconds=seconds)


_RUN_PATHS = ("archive_root", "pipeline_config")


def _run_settings(config: Path | None, overrides: dict[str, Any]) -> Any:
    from observer.collect import RunSettings

    data: dict[str, Any] = {}
    if config is not None:
        try:
            document = tomllib.loads(config.read_text(encoding="utf-8-sig"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise click.UsageError(f"config file {config}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise click.UsageError(
                f"config file {config}: not UTF-8 text (byte {exc.start})"
            ) from None
        unknown = sorted(set(document) - {"kis", "run"})
        if unknown:  # a misspelled [run] would be read as absent: every setting a default
            raise click.UsageError(
                f"config file {config}: unknown top-level entries {', '.join(unknown)} "
                "(tables: [kis], [run])"
            )
        table = dict(document.get("run", {}))
        # paths written in the file are the file's: relative to its folder, not to wherever
        # cron or systemd happens to start the job (a flag's path stays the caller's)
        # (a ``~`` is the user's home, as a shell would read it; an empty path is no path)
        for key in _RUN_PATHS:
            value = table.get(key)
            if isinstance(value, str):
                if not value.strip():
                    raise click.UsageError(f"[run] in {config}: {key} is empty")
                table[key] = str(config.parent / Path(value).expanduser())
        data.update(table)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = msgspec.convert(data, RunSettings, strict=False)
    except msgspec.ValidationError as exc:
        raise click.UsageError(f"run settings: {exc}") from None
    _check_ranges(settings, f"[run] in {config}" if config is not None else "run settings")
    symbols = settings.scalp_symbols
    dupes = sorted({s for s in symbols if symbols.count(s) > 1})
    if dupes:  # counted twice in every strike's expected figure otherwise
        source = (
            "--scalp-symbols"
            if overrides.get("scalp_symbols")
            else f"[run] scalp_symbols in {config}"
        )
        raise click.UsageError(f"{source} lists {', '.join(dupes)} more than once")
    return settings


def _check_ranges(settings: Any, where: str) -> None:
    """The file's values the flags' own types would have refused (a flag's never get here)."""
    from observer.schedule import MAX_SWING_INTERVAL, MIN_SWING_INTERVAL

    low, high = (t.total_seconds() for t in (MIN_SWING_INTERVAL, MAX_SWING_INTERVAL))
    if not low <= settings.swing_interval_s <= high:
        raise click.UsageError(
            f"{where}: swing_interval_s = {settings.swing_interval_s:g} is not between "
            f"{low:g} and {high:g} seconds"
        )
    port = settings.status_port
    if port is not None and not 0 <= port <= 65535:
        raise click.UsageError(f"{where}: status_port = {port} is not a port (0-65535)")


@click.command("run")
@click.option(
    "--simulate", is_flag=True, help="Run against the embedded simulator (no credentials)."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML config with [kis] and [run] tables.",
)
@click.option(
    "--archive-root",
    type=click.Path(path_type=Path, file_okay=False),
    help="Archive root (default ./observer-archive).",
)
@click.option(
    "--universe",
    "universe_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Swing universe file, one code a line (--simulate: the simulator's master list).",
)
@click.option("--scalp-symbols", help="Comma-separated scalp symbols (at most 20).")
@click.option(
    "--pipeline-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Pipeline config TOML: Validation, Guard, Enrichment settings (default: built-in; "
    "every cycle start journals them, so observer rederive needs no flag).",
)
@click.option(
    "--swing-interval",
    type=click.FloatRange(120, 180),
    help="Seconds between swing cycles, 120-180 (default 120).",
)
@click.option(
    "--status-port",
    type=click.IntRange(0, 65535),
    help="Status endpoint port on 127.0.0.1 (default 8787; 0 picks a free one).",
)
@click.option("--no-status", is_flag=True, help="Do not serve the status endpoint.")
@click.option("--forever", is_flag=True, help="Keep running session after session.")
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="--simulate: trading day (default: the latest KRX session that has opened).",
)
@click.option(
    "--start",
    "start_text",
    default=None,
    help="--simulate: market start time, KST (default: the open, 09:00 or 10:00 on late days).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.1, max=1000),
    default=10.0,
    show_default=True,
    help="--simulate: simulated seconds per wall second (the request budget, 20 a market "
    "second, scales with it).",
)
@click.option(
    "--length",
    "length_text",
    default="10m",
    show_default=True,
    help="--simulate: simulated length (10m, 1h30m, or 'session' for up to the close).",
)
@click.option(
    "--sim-symbols",
    type=click.IntRange(1, 9000),
    default=2500,
    show_default=True,
    help="--simulate: size of the simulated market.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="--simulate: market seed.")
@click.option(
    "--log-file", help="JSON-lines log file ('-' for stderr; default <archive-root>/logs/)."
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option("--quiet", is_flag=True, help="No live status line.")
def run(**options: Any) -> None:
    """Collect quotes on the KRX schedule into the archive (the main job)."""
    from observer._errors import ConfigError, ObserverError

    _check_mode_flags(click.get_current_context(), simulate=options["simulate"])
    try:
        result = anyio.run(_main, options)
    except ObserverError as exc:
        click.echo(f"observer run: {exc}", err=True)
        sys.exit(_EXIT_CONFIG)
    except BaseExceptionGroup as group:  # a task group's failure: report ours plainly
        ours, rest = group.split(ObserverError)
        if ours is None or rest is not None:
            raise
        first = _first_leaf(ours)
        click.echo(f"observer run: {first}", err=True)
        # a refusal of the configuration is one wherever it was raised (the status port is
        # bound inside the run's task group)
        sys.exit(_EXIT_CONFIG if isinstance(first, ConfigError) else _EXIT_RUNTIME)
    except KeyboardInterrupt:  # Ctrl-C before the run took over signals, or a second one
        click.echo(
            "observer run: interrupted; a segment left open is repaired and its torn tail "
            "booked on the next start",
            err=True,
        )
        sys.exit(130)
    if result is None:
        return
    rate = f"{result.loss_rate:.4%}"
    click.echo(
        f"archive: {Path(result.archive_root).resolve()}\n"
        f"loss: {result.lost} of {result.expected} expected observations ({rate}); "
        f"snapshots archived: {result.snapshots}; cycles: "
        + (", ".join(f"{m} {n}" for m, n in sorted(result.cycles.items())) or "none")
        + (" (stopped by signal)" if result.cancelled else "")
    )
    if result.cancelled:
        sys.exit(130)


#: the options that shape the simulated market or slice, meaningless to a live run
_SIMULATE_ONLY: Final = ("day", "start_text", "speed", "length_text", "sim_symbols", "seed")
#: the options a simulated run has no use for (its universe is the simulator's master list;
#: it runs one slice of one day)
_LIVE_ONLY: Final = ("universe_file", "forever")


def _check_mode_flags(ctx: click.Context, *, simulate: bool) -> None:
    """Refuse a flag given for the other mode: it would be silently ignored."""
    from click.core import ParameterSource

    names = _LIVE_ONLY if simulate else _SIMULATE_ONLY
    given = [
        param.opts[0]
        for param in ctx.command.params
        if param.name in names
        and ctx.get_parameter_source(param.name) not in (None, ParameterSource.DEFAULT)
    ]
    if "--forever" in given and simulate:
        raise click.UsageError(
            "--forever: a simulated run collects one slice of one day (the simulated market "
            "has one day); run it again with another --day"
        )
    if given and simulate:
        raise click.UsageError(
            f"{', '.join(given)}: a simulated run's universe is the simulated market's "
            "master list (--sim-symbols sets its size)"
        )
    if given:
        raise click.UsageError(f"{', '.join(given)}: only with --simulate")


def _first_leaf(group: BaseException) -> BaseException:
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return group


async def _main(options: dict[str, Any]) -> Any:
    from observer._clock import RealClock
    from observer.collect import read_pipeline_config, run_collection
    from observer.collect._logging import configure_json_logging
    from observer.status import RunStatus

    overrides: dict[str, Any] = {
        "archive_root": str(options["archive_root"]) if options["archive_root"] else None,
        "swing_interval_s": options["swing_interval"],
        "forever": True if options["forever"] else None,
    }
    if options["scalp_symbols"]:
        overrides["scalp_symbols"] = tuple(
            s.strip() for s in options["scalp_symbols"].split(",") if s.strip()
        )
    if options["status_port"] is not None:
        overrides["status_port"] = options["status_port"]
    if options["pipeline_config"] is not None:
        overrides["pipeline_config"] = str(options["pipeline_config"])
    # A live run's TOML file is --config or else KIS_CONFIG, for both its tables; a simulated
    # run reads only --config (KIS_CONFIG names the live job's file, archive root and all).
    config_path = options["config_path"]
    if config_path is None and not options["simulate"] and os.environ.get("KIS_CONFIG"):
        config_path = Path(os.environ["KIS_CONFIG"])
    settings = _run_settings(config_path, overrides)
    pipeline_config = read_pipeline_config(settings.pipeline_config)
    if options["no_status"]:
        settings = msgspec.structs.replace(settings, status_port=None)
    root = Path(settings.archive_root)
    log_file = options["log_file"]
    if log_file != "-":
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        log_path = Path(log_file) if log_file else root / "logs" / f"run-{stamp}.jsonl"
        configure_json_logging(log_path, level=options["log_level"])
    else:
        configure_json_logging(None, level=options["log_level"])

    if options["simulate"]:
        return await _simulate(options, settings, pipeline_config)

    from observer.collect import check_swing_capacity, load_universe, swing_symbols
    from observer.kis import load_kis_config
    from observer.schedule import KrxCalendar
    from pipeline import Environment

    kis = load_kis_config(path=config_path)
    if not settings.scalp_symbols and kis.ws_symbols:
        settings = msgspec.structs.replace(settings, scalp_symbols=kis.ws_symbols)
    universe_file = options["universe_file"]
    if universe_file is None:
        raise click.UsageError("observer run needs a swing universe: --universe FILE")
    universe = load_universe(universe_file)
    interval = dt.timedelta(seconds=settings.swing_interval_s)
    check_swing_capacity(
        len(swing_symbols(universe, settings.scalp_symbols)),  # the scalp symbols too
        rate_per_s=kis.rest_rate_per_s,
        interval=interval,
        multi_price=kis.environment is not Environment.PAPER,
    )
    clock = RealClock()
    calendar = await anyio.to_thread.run_sync(
        lambda: KrxCalendar(late_opens=settings.late_opens, extra_holidays=settings.extra_holidays)
    )
    status = RunStatus(now=clock.now, environment=str(kis.environment), archive_root=str(root))
    status.started_at = clock.now()

    def plans() -> Iterator[Any]:
        return _live_plans(calendar, clock, settings)

    return await _with_status_line(
        options,
        status,
        run_collection(
            settings,
            kis=kis,
            clock=clock,
            plans=plans,
            universe=universe,
            status=status,
            pipeline_config=pipeline_config,
            use_apscheduler=True,
            handle_signals=True,
            status_port_ready=_announce_status(options),
        ),
    )


def _live_plans(calendar: Any, clock: Any, settings: Any) -> Iterator[Any]:
    """The plans of a live run started at ``clock.now()``: first, a plan from the close for
    the latest session when it is over and its journal stops early (``unfinished_day``);
    then today's session from now (with ``forever``, every session after it)."""
    from observer.collect._runner import unfinished_day
    from observer.schedule import SchedulePlan

    interval = dt.timedelta(seconds=settings.swing_interval_s)
    # The latest session, over, whose journal stops before the close (its run crashed or
    # was stopped): a plan from the close resumes it, booking the rest of the day missed.
    latest = calendar.latest_opened_session(clock.now())
    resumed = latest.close <= clock.now() and unfinished_day(settings.archive_root, latest)
    if resumed:
        click.echo(
            f"observer run: the {latest.day} session is over and its journal stops before "
            "the close (the run was stopped or crashed): booking the rest of that day "
            "missed",
            err=True,
        )
        yield SchedulePlan.for_session(
            latest, start=latest.close, swing_interval=interval, login_time=settings.login_time
        )
    day = clock.now().astimezone(_kst()).date()
    while True:
        session = calendar.next_session(day)
        now = clock.now()
        if session.close <= now:
            if not settings.forever:
                if not (resumed and session.day == latest.day):
                    following = calendar.next_session(session.day + dt.timedelta(days=1))
                    click.echo(
                        f"observer run: the {session.day} session is over; next session "
                        f"{following.day} (use --forever to wait for it)",
                        err=True,
                    )
                return
            day = session.day + dt.timedelta(days=1)
            continue
        if session.day != now.astimezone(_kst()).date() and not settings.forever:
            click.echo(
                f"observer run: KRX does not trade today; next session {session.day} "
                "(use --forever to wait for it)",
                err=True,
            )
            return
        start = now if now > session.pre_open else None
        yield SchedulePlan.for_session(
            session, start=start, swing_interval=interval, login_time=settings.login_time
        )
        if not settings.forever:
            return
        day = session.day + dt.timedelta(days=1)


def _slice_plan(
    session: Any, start: dt.datetime, length: dt.timedelta | None, settings: Any
) -> Any:
    """The plan of a simulated slice that collects from ``start`` (KST) for ``length`` (None:
    to the close). The simulated market starts a little before the slice so that the login
    (token, socket) is done when the first cycle is due, but not before the day's midnight:
    its clock is a time of the trading day. Collection starts at the open at the earliest."""
    from observer.schedule import SchedulePlan

    midnight = dt.datetime.combine(session.day, dt.time(0), tzinfo=_kst())
    begin = max(start - _SIM_WARMUP, midnight)
    return SchedulePlan.for_session(
        session,
        start=begin,
        length=None if length is None else start + length - begin,
        swing_interval=dt.timedelta(seconds=settings.swing_interval_s),
        login_time=settings.login_time,
        collect_from=start,
    )


def _session_hours(session: Any) -> dict[dt.date, tuple[dt.time, dt.time]]:
    """The simulator's ``session_hours`` for the day of ``session`` (a ``TradingSession``)."""
    open_, close = (t.astimezone(_kst()).time() for t in (session.open, session.close))
    return {session.day: (open_, close)}


def _kst() -> dt.tzinfo:
    from pipeline import KST

    return KST


async def _simulate(options: dict[str, Any], settings: Any, pipeline_config: Any) -> Any:
    from observer.collect import check_symbols, fetch_master_list, run_collection
    from observer.collect._simthread import simulator_thread
    from observer.kis import KisConfig, Secret
    from observer.schedule import CalendarRangeError, KrxCalendar
    from observer.sim import SimConfig
    from observer.status import RunStatus
    from pipeline import KST, Environment

    check_symbols((), settings.scalp_symbols, pipeline_config)
    calendar = await anyio.to_thread.run_sync(  # builds pandas tables: seconds
        lambda: KrxCalendar(late_opens=settings.late_opens, extra_holidays=settings.extra_holidays)
    )
    if options["day"] is not None:
        day = options["day"].date()
        try:
            session = calendar.session(day)
        except CalendarRangeError as exc:
            raise click.UsageError(f"--day {day}: {exc}") from None
        if session is None:
            raise click.UsageError(f"--day {day}: KRX has no session that day")
    else:
        # the latest session that has opened: at night not today's, which a live run may
        # yet collect into the same archive root
        session = calendar.latest_opened_session(dt.datetime.now(KST))
    try:
        start_time = (
            dt.time.fromisoformat(options["start_text"])
            if options["start_text"]
            else session.open.timetz().replace(tzinfo=None)
        )
    except ValueError:
        raise click.UsageError(f"--start {options['start_text']!r} is not HH:MM[:SS]") from None
    if start_time.tzinfo is not None:  # combined with KST below, an offset would be dropped
        raise click.UsageError(
            f"--start {options['start_text']!r}: give the market time in KST, without an "
            "offset (HH:MM[:SS])"
        )
    length = _duration(options["length_text"])
    start = dt.datetime.combine(session.day, start_time, tzinfo=KST)
    if start >= session.close:
        raise click.UsageError(
            f"--start {start_time}: the {session.day} session closes at "
            f"{session.close.astimezone(KST):%H:%M} KST; start before it"
        )
    if length is not None and start + length <= session.open:
        raise click.UsageError(
            f"--start {start_time} --length {options['length_text']}: the slice ends at "
            f"{start + length:%H:%M:%S} KST, by the {session.day} open "
            f"({session.open.astimezone(KST):%H:%M}): nothing to collect"
        )
    plan = _slice_plan(session, start, length, settings)
    begin = plan.start.astimezone(KST)
    sim_config = SimConfig(
        seed=options["seed"],
        n_symbols=options["sim_symbols"],
        trading_day=session.day,
        # a late day (``late_opens``, the year's first session) moves the simulated session
        session_hours=_session_hours(session),
        start_time=begin.timetz().replace(tzinfo=None),
        speed=options["speed"],
        # the day runs `speed`-fold: so does its request budget (20 a market second, as live)
        rate_in_market_time=True,
    )
    root = Path(settings.archive_root)
    if not options["quiet"] and options["speed"] > _SIM_SPEED_MEASURED:
        click.echo(
            f"observer run --simulate: note, {options['speed']:g}x is past the "
            f"{_SIM_SPEED_MEASURED:g}x measured to keep up (the simulated market and the "
            "collector share one interpreter); what falls behind is booked as loss",
            err=True,
        )
    if not options["quiet"] and begin > session.open:
        click.echo(
            f"observer run --simulate: computing the simulated market from the open to "
            f"{begin:%H:%M:%S} first ({options['sim_symbols']} symbols)",
            err=True,
        )
    async with simulator_thread(sim_config) as sim:
        universe = await fetch_master_list(sim.master_url)
        if not settings.scalp_symbols:
            settings = msgspec.structs.replace(settings, scalp_symbols=universe[:20])
        unlisted = sorted(set(settings.scalp_symbols) - set(universe))
        if unlisted:
            raise click.UsageError(
                f"--scalp-symbols {', '.join(unlisted)}: not listed by the simulated market "
                f"({len(universe)} symbols, {universe[0]} to {universe[-1]}; --sim-symbols "
                "sets how many)"
            )
        kis = KisConfig(
            environment=Environment.SIM,
            app_key=Secret(""),
            app_secret=Secret(""),
            token_cache_dir=None,
        ).bind_simulator(
            rest_url=sim.rest_url, ws_url=sim.ws_url, app_key=sim.app_key, app_secret=sim.app_secret
        )
        status = RunStatus(now=sim.clock.now, environment="sim", archive_root=str(root))
        status.started_at = sim.clock.now()
        if not options["quiet"]:
            click.echo(
                f"observer run --simulate: {session.day} from {start_time} KST, "
                f"{'to the close' if length is None else options['length_text']} at "
                f"{options['speed']:g}x; {len(universe)} symbols, "
                f"{len(settings.scalp_symbols)} scalp; archive {root}",
                err=True,
            )
        return await _with_status_line(
            options,
            status,
            run_collection(
                settings,
                kis=kis,
                clock=sim.clock,
                plans=lambda: iter([plan]),
                universe=universe,
                status=status,
                pipeline_config=pipeline_config,
                use_apscheduler=False,
                handle_signals=True,
                status_port_ready=_announce_status(options),
                rate_clock=sim.clock,
            ),
        )


def _announce_status(options: dict[str, Any]) -> Any:
    def announce(port: int) -> None:
        if not options["quiet"]:
            click.echo(f"status: http://127.0.0.1:{port}/v1/session/status", err=True)

    return announce


async def _with_status_line(options: dict[str, Any], status: Any, job: Any) -> Any:
    """Run ``job`` with a one-line live status on a terminal (rich), if stderr is one."""
    if options["quiet"] or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return await job
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(stderr=True)
    result: list[Any] = []

    async def body(scope: anyio.CancelScope) -> None:
        result.append(await job)
        scope.cancel()

    def line() -> Text:
        return Text(status.line(), no_wrap=True, overflow="ellipsis")

    with Live(line(), console=console, refresh_per_second=4, transient=False) as live:
        async with anyio.create_task_group() as tg:
            tg.start_soon(body, tg.cancel_scope)
            while True:
                live.update(line())
                await anyio.sleep(0.25)
        live.update(line())  # the final figures, not the last refresh's
    return result[0] if result else None
