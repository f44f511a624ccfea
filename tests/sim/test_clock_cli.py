"""The simulated clock, the admin clock endpoint and ``observer simulate``."""

from __future__ import annotations

import datetime as dt
import re
import socket
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from observer.cli import cli
from observer.sim import SimClock, SimConfig, serve_simulator
from pipeline import KST
from tests.sim.helpers import running


class _Wall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_clock_runs_at_speed() -> None:
    """10 wall seconds at 20x are 200 market seconds."""
    wall = _Wall()
    clock = SimClock(dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST), 20.0, wall=wall)
    wall.t += 10
    assert dt.datetime(2026, 11, 24, 9, 3, 20, tzinfo=KST) == clock.now()


def test_clock_set_keeps_monotonic_going_forward() -> None:
    """Jumping the clock back in market time never moves monotonic() back."""
    wall = _Wall()
    clock = SimClock(dt.datetime(2026, 11, 24, 12, 0, tzinfo=KST), 1.0, wall=wall)
    wall.t += 5
    before = clock.monotonic()
    clock.set(dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST))
    wall.t += 1
    assert (True, dt.datetime(2026, 11, 24, 9, 0, 1, tzinfo=KST)) == (
        clock.monotonic() > before,
        clock.now(),
    )


def test_clock_speed_change_keeps_the_current_time() -> None:
    """set_speed changes the rate, not the current instant."""
    wall = _Wall()
    clock = SimClock(dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST), 1.0, wall=wall)
    wall.t += 60
    clock.set_speed(10.0)
    wall.t += 6
    assert dt.datetime(2026, 11, 24, 9, 2, tzinfo=KST) == clock.now()


@pytest.mark.anyio
async def test_admin_clock_sets_day_time_and_speed() -> None:
    """POST /sim/admin/clock moves the market to another day and time."""
    async with running() as (sim, client):
        r = await client.post(
            "/sim/admin/clock", json={"day": "2026-11-25", "time": "14:00:00", "speed": 1}
        )
        now = dt.datetime.fromisoformat(r.json()["now"])
        assert (dt.date(2026, 11, 25), 14, dt.date(2026, 11, 25)) == (
            now.date(), now.hour, sim.market.day,
        )  # fmt: skip


def test_simulate_help_works() -> None:
    """``observer simulate --help`` lists its options."""
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert (0, True) == (result.exit_code, "--speed" in result.output)


def test_simulate_prints_urls_and_masks_credentials() -> None:
    """A short run prints the REST and WS URLs and never the full credentials."""
    from observer.sim import sim_credentials

    key, secret = sim_credentials(7)
    result = CliRunner().invoke(
        cli, ["simulate", "--symbols", "50", "--duration", "0.2", "--day", "2026-11-24"]
    )
    shown = ("http://127.0.0.1:" in result.output, "ws://127.0.0.1:" in result.output)
    leaked = key in result.output or secret in result.output
    assert (0, (True, True), False) == (result.exit_code, shown, leaked)


def test_simulate_rejects_a_bad_start_time() -> None:
    """A malformed --start is a usage error naming the option's problem."""
    result = CliRunner().invoke(cli, ["simulate", "--start", "nine", "--duration", "0.1"])
    assert (True, True) == (result.exit_code != 0, "HH:MM" in result.output)


def test_simulate_credentials_file_is_the_kis_table_observer_run_reads(tmp_path: Path) -> None:
    """``--credentials-file`` writes a ``[kis]`` table (owner-only) that ``load_kis_config``
    turns into this simulator's sim-environment settings, key and secret included."""
    from observer.kis import load_kis_config
    from observer.sim import sim_credentials

    path = tmp_path / "sim.toml"
    result = CliRunner().invoke(
        cli,
        ["simulate", "--symbols", "20", "--duration", "0.2", "--credentials-file", str(path)],
    )
    kis = load_kis_config({}, path=path)
    port = re.search(r"REST +http://127\.0\.0\.1:(\d+)", result.output)
    assert (0, 0o600, "sim", sim_credentials(7), f"http://127.0.0.1:{port and port[1]}") == (
        result.exit_code,
        path.stat().st_mode & 0o777,
        str(kis.environment),
        (kis.app_key.reveal(), kis.app_secret.reveal()),
        kis.rest_url,
    ), result.output


def test_simulate_universe_file_lists_the_master_codes(tmp_path: Path) -> None:
    """``--universe-file`` holds the simulated market's codes, one a line, as served by the
    master list."""
    from observer.sim import SimMarket

    path = tmp_path / "universe.txt"
    args = ["simulate", "--symbols", "25", "--duration", "0.2", "--universe-file", str(path)]
    result = CliRunner().invoke(cli, args)
    codes = [s.code for s in SimMarket(7, 25, dt.date(2026, 11, 24)).symbols]
    assert (0, codes) == (result.exit_code, path.read_text().splitlines())


def test_start_now_reads_seoul_wall_clock_when_the_simulator_is_up() -> None:
    """``start_now``: the market clock starts at the KST wall time (and day) of the moment
    the server is ready, however long the warm-up took."""
    cfg = SimConfig(n_symbols=20, start_now=True, warm_up=True, ping_interval_s=0.0)

    async def started() -> tuple[dt.datetime, dt.datetime]:
        async with serve_simulator(cfg) as sim:
            return sim.clock.now(), dt.datetime.now(KST)

    sim_now, wall = anyio.run(started)
    assert (True, wall.date()) == (
        abs(sim_now - wall) < dt.timedelta(seconds=2),
        sim_now.astimezone(KST).date(),
    )


def test_start_now_at_another_speed_is_refused() -> None:
    """A clock that follows the wall cannot run faster than it: a clear config error."""
    result = CliRunner().invoke(cli, ["simulate", "--start", "now", "--speed", "10"])
    assert (1, True) == (result.exit_code, "start_now follows the wall clock" in result.output)


@pytest.mark.parametrize("option", ["--credentials-file", "--universe-file"])
def test_simulate_file_it_cannot_write_is_a_clear_error(tmp_path: Path, option: str) -> None:
    """A file in a folder that does not exist: exit 1 and a line naming it, no traceback."""
    target = tmp_path / "missing" / "out.toml"
    result = CliRunner().invoke(cli, ["simulate", "--symbols", "10", option, str(target)])
    expected = (1, f"Error: cannot write {target}: No such file or directory", SystemExit)
    assert expected == (
        result.exit_code,
        result.output.strip().splitlines()[-1],
        type(result.exception),
    ), result.output


def test_simulate_states_token_expiry_on_the_wall_clock_its_clients_use() -> None:
    """``observer simulate`` serves clients on the real clock: tokens state a wall expiry."""
    from observer.sim._cli import _sim_config

    assert "wall" == _sim_config(None, {"trading_day": dt.date(2026, 11, 20)}).token_expiry_clock


def test_simulate_config_file_may_state_token_expiry_on_the_market_clock(tmp_path: Path) -> None:
    """A config file that asks for the market clock gets it: the CLI default is only a default."""
    from observer.sim._cli import _sim_config

    path = tmp_path / "sim.toml"
    path.write_text('token_expiry_clock = "market"\n', encoding="utf-8")
    assert "market" == _sim_config(path, {"seed": 3}).token_expiry_clock


def test_simulate_on_a_port_in_use_is_a_clear_error() -> None:
    """A port another socket listens on: exit 1 and a line naming the address, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["simulate", "--symbols", "10", "--port", str(port), "--duration", "0.1"]
        result = CliRunner().invoke(cli, args)
    expected = (1, f"Error: cannot listen on 127.0.0.1:{port}: Address already in use", SystemExit)
    assert expected == (
        result.exit_code,
        result.output.strip().splitlines()[-1],
        type(result.exception),
    ), result.output


@pytest.mark.parametrize(
    ("option", "value"), [("--port", "70000"), ("--port", "-1"), ("--duration", "-1")]
)
def test_simulate_option_out_of_range_is_a_usage_error(option: str, value: str) -> None:
    """A port outside 0..65535 or a negative duration: exit 2 naming the option."""
    result = CliRunner().invoke(cli, ["simulate", "--symbols", "10", option, value])
    assert (2, True, SystemExit) == (
        result.exit_code,
        f"Invalid value for '{option}'" in result.output,
        type(result.exception),
    ), result.output


def test_simulate_truth_log_it_cannot_write_is_a_clear_error(tmp_path: Path) -> None:
    """``--truth-jsonl`` in a folder that does not exist: exit 1 and a line naming the file."""
    target = tmp_path / "missing" / "truth.jsonl"
    args = ["simulate", "--symbols", "10", "--truth-jsonl", str(target), "--duration", "0.1"]
    result = CliRunner().invoke(cli, args)
    expected = (
        1,
        f"Error: cannot write the truth log {target}: No such file or directory",
        SystemExit,
    )
    assert expected == (
        result.exit_code,
        result.output.strip().splitlines()[-1],
        type(result.exception),
    ), result.output


def test_config_port_out_of_range_is_refused() -> None:
    """A config whose port cannot be bound is a config error, not an overflow at bind."""
    with pytest.raises(ValueError) as refused:
        SimConfig(port=70000)
    assert "port must be 0..65535, got 70000" == str(refused.value)
