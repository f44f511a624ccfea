"""`observer run` refuses what would only turn into loss or a traceback (a clear message,
exit 2, nothing collected; exit 1 for a journal it cannot resume) and says so when a
simulated speed is past the measured one."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from archive import ArchiveWriter
from pipeline import (
    ENCODER,
    KST,
    PipelineConfig,
    config_mapping,
)
from tests.e2e.test_main_command import MAIN, observer
from tests.pipeline.helpers import swing_start

QUICK = ["--no-status", "--quiet", "--sim-symbols", "60", "--length", "1m"]


def _refusal(tmp_path: Path, *args: str) -> tuple[int, str, bool]:
    proc = observer("run", "--simulate", "--archive-root", "a", *QUICK, *args, cwd=tmp_path)
    _, err = proc.communicate(timeout=90)
    collected = any((tmp_path / "a").glob("snapshots/**/*.zst"))
    return proc.returncode, " ".join(err.split()), collected


def _live_refusal(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """``observer run`` (no --simulate) with ``env`` over a KIS-free environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KIS_")}
    proc = subprocess.run(
        [sys.executable, "-P", "-c", MAIN, "run", "--no-status", "--quiet", *args],
        cwd=tmp_path,
        env={**base, "TERM": "dumb", **env},
        capture_output=True,
        text=True,
        timeout=90,
    )
    return proc.returncode, " ".join(proc.stderr.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scalp-symbols", "12345"], "scalp symbol '12345' does not match Validation's"),
        (["--length", "0m"], "--length '0m': the slice must last at least a second"),
        (["--day", "2099-01-02"], "--day 2099-01-02: 2099-01-02 is outside the KRX days"),
        (["--pipeline-config", "missing.toml"], "missing.toml: cannot read"),
        (["--length", "99999999h"], "--length '99999999h' is longer than a day"),
        (
            ["--day", "2025-11-12", "--start", "06:30+00:00"],
            "--start '06:30+00:00': give the market time in KST",
        ),
        (
            ["--day", "2025-11-12", "--start", "15:30Z"],
            "--start '15:30Z': give the market time in KST",
        ),
        (
            ["--day", "2025-11-12", "--start", "15:30"],
            "--start 15:30:00: the 2025-11-12 session closes at 15:30",
        ),
        (["--day", "2025-11-12", "--start", "07:00"], "the slice ends at 07:01:00 KST, by the"),
        (
            ["--day", "2025-11-12", "--start", "08:50", "--length", "10m"],
            "ends at 09:00:00 KST, by the",
        ),
    ],
    ids=[
        "malformed-scalp-symbol",
        "zero-length",
        "day-past-the-calendar",
        "missing-config",
        "length-past-a-day",
        "start-with-an-offset",
        "start-in-utc",
        "start-at-the-close",
        "slice-before-the-open",
        "slice-ending-at-the-open",
    ],
)
def test_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    """Each is refused with exit 2 and its message, and nothing is collected (in process:
    the calendar is built once for all of them, not once per subprocess)."""
    from click.testing import CliRunner

    from observer._cli_run import run

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(run, ["--simulate", "--archive-root", "a", *QUICK, *args])
    collected = any((tmp_path / "a").glob("snapshots/**/*.zst"))
    err = " ".join(result.output.split())
    assert (2, True, False) == (result.exit_code, message in err, collected), err[-600:]


def test_a_pipeline_config_with_a_broken_regex_is_refused(tmp_path: Path) -> None:
    """An unparsable validation.symbol_pattern names the setting instead of a traceback."""
    (tmp_path / "pipeline.toml").write_text('[validation]\nsymbol_pattern = "[0-9"\n')
    code, err, collected = _refusal(tmp_path, "--pipeline-config", "pipeline.toml")
    expected = (2, True, False, False)
    assert expected == (
        code,
        "symbol_pattern '[0-9' is not a regex" in err,
        "Traceback" in err,
        collected,
    ), err[-600:]


def test_a_pipeline_config_that_rejects_the_universe_is_refused(tmp_path: Path) -> None:
    """A symbol pattern no simulated code matches would reject every observation: refused,
    naming the symbols and the setting to widen."""
    (tmp_path / "pipeline.toml").write_text('[validation]\nsymbol_pattern = "Q[0-9]{6}"\n')
    code, err, collected = _refusal(tmp_path, "--pipeline-config", "pipeline.toml")
    assert (2, True, True, False) == (
        code,
        "20 scalp symbols" in err,
        "widen validation.symbol_pattern" in err,
        collected,
    ), err[-600:]


def test_a_scalp_symbol_the_simulated_market_does_not_list_is_refused(tmp_path: Path) -> None:
    """999999 is well-formed but not listed: every strike would fail; refused instead."""
    code, err, collected = _refusal(tmp_path, "--scalp-symbols", "005930,999999")
    assert (2, True, False) == (
        code,
        "--scalp-symbols 999999: not listed by the simulated market" in err,
        collected,
    ), err[-600:]


def test_a_speed_past_the_measured_one_runs_with_a_note(tmp_path: Path) -> None:
    """50x runs (its loss is booked) but says first that it is past the measured 20x."""
    args = ["--no-status", "--sim-symbols", "60", "--length", "10s", "--speed", "50"]
    proc = observer("run", "--simulate", "--archive-root", "a", *args, cwd=tmp_path)
    out, err = proc.communicate(timeout=90)
    assert (0, True, True) == (
        proc.returncode,
        "50x is past the 20x measured to keep up" in err,
        out.startswith("archive: "),
    ), err[-600:]


def test_paths_in_the_config_file_are_relative_to_its_folder(tmp_path: Path) -> None:
    """``[run] pipeline_config`` names a file beside the config, whatever the working
    directory: its broken regex is what is refused, not a missing file."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "observer.toml").write_text('[run]\npipeline_config = "stages.toml"\n')
    (etc / "stages.toml").write_text('[validation]\nsymbol_pattern = "[0-9"\n')
    code, err, collected = _refusal(tmp_path, "--config", "etc/observer.toml")
    assert (2, True, False) == (code, "is not a regex" in err, collected), err[-600:]


def test_a_relative_archive_root_in_the_config_file_is_beside_it(tmp_path: Path) -> None:
    """``[run] archive_root`` in the file resolves from the file's folder; a flag's path
    stays the caller's."""
    from observer._cli_run import _run_settings

    config = tmp_path / "observer.toml"
    config.write_text('[run]\narchive_root = "archive"\n')
    from_file = _run_settings(config, {}).archive_root
    from_flag = _run_settings(config, {"archive_root": "here"}).archive_root
    assert (str(tmp_path / "archive"), "here") == (from_file, from_flag)


def test_an_extra_holiday_from_the_config_file_has_no_simulated_session(tmp_path: Path) -> None:
    """``[run] extra_holidays`` applies to ``--simulate``: the day is refused, not simulated."""
    (tmp_path / "observer.toml").write_text('[run]\nextra_holidays = ["2026-11-23"]\n')
    code, err, collected = _refusal(tmp_path, "--config", "observer.toml", "--day", "2026-11-23")
    assert (2, True, False) == (code, "KRX has no session that day" in err, collected), err[-600:]


def test_a_journal_whose_config_no_longer_decodes_is_refused_clearly(tmp_path: Path) -> None:
    """Resuming a day replays its journal; a cycle start whose journaled config this version
    cannot read stops the run with a message naming the day and the event, not a traceback."""
    at = dt.datetime(2026, 11, 24, 8, 50, tzinfo=KST)
    bad = {**config_mapping(PipelineConfig()), "guard": {"max_jump_bps": "wide"}}
    with ArchiveWriter(tmp_path / "a") as writer:
        writer.append(swing_start(at, "swing-20261124-085000", seq=1, pipeline_config=bad))
    proc = observer(
        "run", "--simulate", "--archive-root", "a", "--day", "2026-11-24", *QUICK, cwd=tmp_path
    )
    _, err = proc.communicate(timeout=90)
    expected = (1, True, False)
    assert expected == (
        proc.returncode,
        "cannot resume 2026-11-24 from its journal in a: raw event 1: cycle" in err,
        "Traceback" in err,
    ), err[-600:]


def test_damage_recovery_will_not_cut_is_refused_clearly(tmp_path: Path) -> None:
    """A crashed segment with a damaged frame before intact ones stops the run with a
    message that names the file and what to do, not a traceback, and the file is kept."""
    import zstandard

    from tests.archive.helpers import claim_huge_block, snapshots

    directory = tmp_path / "a" / "snapshots" / "date=2026-11-24" / "mode=swing" / "source=kis-rest"
    directory.mkdir(parents=True)
    path = directory / "part-000000000001.jsonl.zst.open"
    cctx = zstandard.ZstdCompressor(write_checksum=True)
    frames = [b"".join(ENCODER.encode(s) + b"\n" for s in snapshots(r)) for r in ((1, 2), (3,))]
    path.write_bytes(b"".join(cctx.compress(frame) for frame in frames))
    claim_huge_block(path)
    damaged = path.read_bytes()
    code, err, _ = _refusal(tmp_path)
    expected = (2, True, True, False, damaged)
    assert expected == (
        code,
        str(path.relative_to(tmp_path)) in err,
        "observer verify" in err,
        "Traceback" in err,
        path.read_bytes(),
    ), err[-600:]


def test_kis_config_supplies_the_run_table_too(tmp_path: Path) -> None:
    """``KIS_CONFIG`` names the file of both tables: its ``[run] pipeline_config`` is read
    (its broken regex is what is refused), not ignored for a ``has no [kis] table``."""
    (tmp_path / "observer.toml").write_text('[run]\npipeline_config = "stages.toml"\n')
    (tmp_path / "stages.toml").write_text('[validation]\nsymbol_pattern = "[0-9"\n')
    code, err = _live_refusal(tmp_path, {"KIS_CONFIG": str(tmp_path / "observer.toml")})
    assert (2, True) == (code, "is not a regex" in err), err[-600:]


def test_a_run_config_file_that_is_not_utf8_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    """A CP949-saved ``--config`` is refused with its name, not a UnicodeDecodeError."""
    import click

    from observer._cli_run import _run_settings

    config = tmp_path / "observer.toml"
    config.write_bytes('[run]\narchive_root = "아카이브"\n'.encode("cp949"))
    with pytest.raises(click.UsageError, match=r"observer\.toml: not UTF-8 text"):
        _run_settings(config, {})


def test_a_run_config_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A ``--config`` saved with a UTF-8 BOM reads as TOML, not as a decode error."""
    from observer._cli_run import _run_settings

    config = tmp_path / "observer.toml"
    config.write_bytes("[run]\nswing_interval_s = 150\n".encode("utf-8-sig"))
    assert 150.0 == _run_settings(config, {}).swing_interval_s


def test_an_unknown_log_level_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--log-level FOO`` is refused by the option (exit 2), not a ValueError traceback."""
    from click.testing import CliRunner

    from observer._cli_run import run

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(run, ["--simulate", *QUICK, "--log-level", "FOO"])
    assert (2, True) == (result.exit_code, "Invalid value for '--log-level'" in result.output)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("swing_interval_s = 10", "swing_interval_s = 10 is not between 120 and 180 seconds"),
        ("status_port = 99999", "status_port = 99999 is not a port (0-65535)"),
        ("status_port = -1", "status_port = -1 is not a port (0-65535)"),
    ],
    ids=["swing-interval", "port-too-high", "port-negative"],
)
def test_a_run_value_out_of_range_is_a_usage_error_naming_the_key(
    tmp_path: Path, line: str, message: str
) -> None:
    """A ``[run]`` value past what its flag accepts names the key, not a later traceback."""
    import click

    from observer._cli_run import _run_settings

    config = tmp_path / "observer.toml"
    config.write_text(f"[run]\n{line}\n")
    with pytest.raises(click.UsageError) as info:
        _run_settings(config, {})
    assert f"[run] in {config}: {message}" == info.value.message


def test_a_tilde_in_a_run_path_is_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[run] archive_root = "~/archive"`` is under HOME, not a folder '~' beside the file."""
    from observer._cli_run import _run_settings

    monkeypatch.setenv("HOME", "/h")
    config = tmp_path / "observer.toml"
    config.write_text('[run]\narchive_root = "~/archive"\n')
    assert "/h/archive" == _run_settings(config, {}).archive_root


def test_an_empty_run_path_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    """``[run] archive_root = ""`` is refused instead of archiving into the file's folder."""
    import click

    from observer._cli_run import _run_settings

    config = tmp_path / "observer.toml"
    config.write_text('[run]\narchive_root = ""\n')
    with pytest.raises(click.UsageError) as info:
        _run_settings(config, {})
    assert f"[run] in {config}: archive_root is empty" == info.value.message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "5", "--day", "2026-11-24"], "--day, --speed: only with --simulate"),
        (["--simulate", "--universe", "u.txt"], "--universe: a simulated run's universe is"),
        (["--simulate", "--forever"], "--forever: a simulated run collects one slice"),
    ],
    ids=["simulate-flags-on-a-live-run", "universe-on-a-simulated-run", "forever-simulated"],
)
def test_a_flag_of_the_other_mode_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    """A flag the chosen mode would ignore is refused naming it, before anything runs."""
    from click.testing import CliRunner

    from observer._cli_run import run

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(run, ["--no-status", "--quiet", *args])
    assert (2, True, []) == (
        result.exit_code,
        message in " ".join(result.output.split()),
        list(tmp_path.iterdir()),
    ), result.output


def test_a_scalp_symbol_listed_twice_is_a_usage_error(tmp_path: Path) -> None:
    """``005930,005930`` would be expected twice a strike; refused like KIS_WS_SYMBOLS."""
    import click

    from observer._cli_run import _run_settings

    config = tmp_path / "observer.toml"
    config.write_text('[run]\nscalp_symbols = ["000660", "000660"]\n')
    messages = []
    for overrides in ({"scalp_symbols": ("005930", "005930")}, {}):
        with pytest.raises(click.UsageError) as info:
            _run_settings(config, overrides)
        messages.append(info.value.message)
    assert [
        "--scalp-symbols lists 005930 more than once",
        f"[run] scalp_symbols in {config} lists 000660 more than once",
    ] == messages


def test_a_misspelled_table_in_the_run_config_is_a_usage_error(tmp_path: Path) -> None:
    """``[runn]`` would leave every setting at its default: refused naming it."""
    import click

    from observer._cli_run import _run_settings

    config = tmp_path / "observer.toml"
    config.write_text('[runn]\narchive_root = "/data/observer-archive"\n')
    with pytest.raises(click.UsageError) as info:
        _run_settings(config, {})
    expected = f"config file {config}: unknown top-level entries runn (tables: [kis], [run])"
    assert expected == info.value.message


def test_a_universe_file_that_is_not_utf8_is_refused_without_a_traceback(tmp_path: Path) -> None:
    """``observer run --universe`` with a CP949 file exits 2 naming it (KIS_ENV=sim: no keys)."""
    (tmp_path / "universe.csv").write_bytes("005930,삼성전자\n".encode("cp949"))
    code, err = _live_refusal(tmp_path, {"KIS_ENV": "sim"}, "--universe", "universe.csv")
    expected = (2, True, False)
    assert expected == (
        code,
        "universe file universe.csv: not UTF-8 text" in err,
        "Traceback" in err,
    ), err[-600:]


def test_a_status_port_in_use_is_a_configuration_refusal(tmp_path: Path) -> None:
    """A --status-port another process holds is the operator's choice to change: exit 2,
    like every other configuration refusal, with the message that says what to do."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = observer(
            "run", "--simulate", "--archive-root", "a", "--status-port", port, "--quiet",
            "--sim-symbols", "60", "--length", "1m", cwd=tmp_path,
        )  # fmt: skip
        _, err = proc.communicate(timeout=90)
    assert (2, True) == (proc.returncode, "choose another --status-port" in err), err[-600:]
