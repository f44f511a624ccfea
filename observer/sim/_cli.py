"""``observer simulate``: run the embedded KIS simulator on loopback until Ctrl-C."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import anyio
import click
import msgspec

from ._auth import mask
from ._config import SimConfig, load_sim_config
from ._faults import FaultSpec
from ._server import SimStartError, Simulator, serve_simulator

__all__ = ["simulate"]


def _parse_time(value: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"expected HH:MM or HH:MM:SS, got {value!r}") from exc


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, whole or not at all (a reader
    polling for the file never sees half of it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _write_universe(path: Path, sim: Simulator) -> None:
    """The simulated market's codes, one a line: what ``observer run --universe`` reads."""
    path.write_text("".join(f"{symbol.code}\n" for symbol in sim.market.symbols), "utf-8")


def _credentials_toml(sim: Simulator) -> str:
    """The ``[kis]`` table ``observer run --config`` reads: this simulator's key, secret and
    URLs (JSON strings are TOML basic strings: the values are ASCII)."""
    values = {
        "env": "sim",
        "app_key": sim.app_key,
        "app_secret": sim.app_secret,
        "rest_url": sim.rest_url,
        "ws_url": sim.ws_url,
    }
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    return (
        "# observer simulate: the credentials of a running simulator (valid while it runs).\n"
        "# observer run --config <this file> collects from it.\n"
        f"[kis]\n{lines}"
    )


# What ``observer simulate`` serves unless its config file says otherwise: its clients
# (``observer run --config``) run on the real clock, so tokens state their expiry on it.
_CLI_DEFAULTS: dict[str, Any] = {"token_expiry_clock": "wall"}


def _sim_config(config_path: Path | None, overrides: dict[str, Any]) -> SimConfig:
    """The config file (if any) over ``_CLI_DEFAULTS``, the options over both."""
    if config_path is not None:
        return load_sim_config(config_path, defaults=_CLI_DEFAULTS, **overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    return msgspec.convert({**_CLI_DEFAULTS, **given}, SimConfig, strict=False)


def _start_error(group: BaseExceptionGroup[BaseException]) -> SimStartError | None:
    """The ``SimStartError`` a task group failed with, if that is what it failed with."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf if isinstance(leaf, SimStartError) else None


@click.command("simulate")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SimConfig as TOML or JSON (options below override it).",
)
@click.option("--seed", type=int, help="Market seed (default 7).")
@click.option("--symbols", type=int, help="Universe size (default 2500).")
@click.option(
    "--day", type=click.DateTime(["%Y-%m-%d"]), help="Simulated trading day (default today)."
)
@click.option(
    "--start",
    "start",
    help="Simulated KST start time, HH:MM[:SS] (default 09:00), or 'now': the market clock "
    "then reads Seoul's wall clock (speed 1), for a live observer run to collect from.",
)
@click.option("--speed", type=float, help="Market seconds per wall second (default 1).")
@click.option(
    "--host", default=None, help="Bind address (default 127.0.0.1; loopback only is sane)."
)
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 0 = a free one).")
@click.option("--rate", "rate", type=int, help="REST requests per second per app key (default 20).")
@click.option(
    "--halt",
    "halt",
    multiple=True,
    metavar="CODE",
    help="Halt this stock all day (거래정지: no trades, status 58); repeatable.",
)
@click.option(
    "--faults",
    "faults_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON/TOML file with a list of faults ({kind, at, duration_s, ...}).",
)
@click.option(
    "--truth-jsonl", type=click.Path(dir_okay=False), help="Also write the ground-truth log here."
)
@click.option(
    "--credentials-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the simulator's credentials and URLs here, as the [kis] table that "
    "'observer run --config FILE' reads (mode 0600).",
)
@click.option(
    "--universe-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the simulated market's codes here, one a line ('observer run --universe').",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    help="Stop after this many wall seconds (default: until Ctrl-C).",
)
def simulate(
    config_path: Path | None,
    seed: int | None,
    symbols: int | None,
    day: dt.datetime | None,
    start: str | None,
    speed: float | None,
    host: str | None,
    port: int | None,
    rate: int | None,
    halt: tuple[str, ...],
    faults_path: Path | None,
    truth_jsonl: str | None,
    credentials_file: Path | None,
    universe_file: Path | None,
    duration: float | None,
) -> None:
    """Serve the KIS REST and WebSocket protocols from a deterministic synthetic KRX market."""
    overrides: dict[str, Any] = {
        "seed": seed,
        "n_symbols": symbols,
        "trading_day": day.date() if day else None,
        "start_time": _parse_time(start) if start and start != "now" else None,
        "start_now": True if start == "now" else None,
        "speed": speed,
        "host": host,
        "port": port,
        "rest_rate_per_s": rate,
        "halted_symbols": halt or None,
        "truth_jsonl": truth_jsonl,
    }
    if faults_path is not None:
        raw = faults_path.read_bytes()
        decoded = (
            msgspec.toml.decode(raw) if faults_path.suffix == ".toml" else msgspec.json.decode(raw)
        )
        if isinstance(decoded, dict):
            decoded = decoded.get("faults", [])
        try:
            overrides["faults"] = msgspec.convert(decoded, list[FaultSpec], strict=False)
        except (msgspec.ValidationError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--faults") from exc
    try:
        config = _sim_config(config_path, overrides)
    except (msgspec.ValidationError, ValueError, OSError) as exc:
        raise click.ClickException(f"bad simulator config: {exc}") from exc

    unwritable: list[str] = []

    async def main() -> None:
        async with serve_simulator(config) as sim:
            target = None
            try:
                if universe_file is not None:
                    target = universe_file
                    _write_universe(universe_file, sim)
                if credentials_file is not None:  # last: a script waiting for it finds both
                    target = credentials_file
                    _write_private(credentials_file, _credentials_toml(sim))
            except OSError as exc:  # the message names the file, never what was to go in it
                unwritable.append(f"cannot write {target}: {exc.strerror}")
                return
            click.echo(
                f"KIS simulator  day {sim.market.day}  now {sim.clock.now_kst():%H:%M:%S} KST"
                f"  speed {sim.clock.speed:g}x  symbols {len(sim.market.symbols)}"
            )
            click.echo(f"  REST    {sim.rest_url}")
            click.echo(f"  WS      {sim.ws_url}")
            click.echo(f"  master  {sim.master_url}")
            click.echo(
                f"  admin   {sim.rest_url}/sim/admin/  (faults, truth/summary, clock, sessions)"
            )
            click.echo(f"  app key {mask(sim.app_key)}  secret {mask(sim.app_secret)}")
            if config.halted_symbols:
                click.echo(f"  halted  {' '.join(config.halted_symbols)}")
            if universe_file is not None:
                click.echo(f"  universe written to {universe_file}")
            if credentials_file is not None:
                click.echo(f"  credentials written to {credentials_file}")
                universe = f" --universe {universe_file}" if universe_file is not None else ""
                click.echo(f"  collect: observer run --config {credentials_file}{universe}")
            click.echo("Ctrl-C to stop." if duration is None else f"Stopping after {duration:g} s.")
            if duration is None:
                await anyio.sleep_forever()
            else:
                await anyio.sleep(duration)
            summary = sim.truth.summary()
            click.echo(f"served: {summary['served']}")

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        click.echo("stopped.")
    except BaseExceptionGroup as group:  # the server's task group: a start it refused
        refused = _start_error(group)
        if refused is None:
            raise
        raise click.ClickException(str(refused)) from None
    if unwritable:
        raise click.ClickException(unwritable[0])
