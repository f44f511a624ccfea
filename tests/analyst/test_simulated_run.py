"""Acceptance on a real archive: ``observer run --simulate``, then the analyst commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive import open_archive
from observer.analyst._rederive import rederive
from observer.analyst._report import build_report
from observer.analyst._verify import verify_archive
from observer.cli import cli


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated minutes of the main job against the embedded simulator."""
    root = tmp_path_factory.mktemp("sim") / "archive"
    command = [
        sys.executable,
        "-c",
        "from observer.cli import main; main()",
        "run",
        "--simulate",
        "--archive-root",
        str(root),
        "--status-port",
        "0",
        "--quiet",
        "--length",
        "2m",
        "--speed",
        "60",
        "--sim-symbols",
        "60",
        "--scalp-symbols",
        "005930,000660",
        "--log-file",
        "-",
    ]
    done = subprocess.run(command, capture_output=True, timeout=100, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return root


@pytest.mark.slow
def test_simulated_run_rederives_byte_for_byte(simulated: Path) -> None:
    """The live projection and a re-run over the journal write the same bytes."""
    result = rederive(simulated)
    expected = (True, [], True)
    assert expected == (result.identical, result.differences, result.raw_events > 0)


@pytest.mark.slow
def test_simulated_run_verifies(simulated: Path) -> None:
    """Every sealed segment of a finished run matches its manifest; nothing is open."""
    result = verify_archive(simulated)
    expected: tuple[list[object], int] = ([], 0)
    assert expected == (result.problems, result.open_segments)


@pytest.mark.slow
def test_simulated_run_report_counts_every_archived_snapshot(simulated: Path) -> None:
    """The report's archived totals equal the snapshots a replay reads."""
    rows = build_report(simulated).rows
    replayed = sum(1 for _ in open_archive(simulated).snapshots())
    assert replayed == sum(r.archived for r in rows)


@pytest.mark.slow
def test_simulated_run_plot_and_replay_work_from_the_cli(simulated: Path, tmp_path: Path) -> None:
    """replay and report --plot exit 0 on the run's archive."""
    runner = CliRunner()
    replay = runner.invoke(cli, ["replay", str(simulated)], catch_exceptions=False)
    plot = runner.invoke(
        cli, ["report", str(simulated), "--plot", str(tmp_path / "p.png")], catch_exceptions=False
    )
    expected = (0, 0, True)
    assert expected == (replay.exit_code, plot.exit_code, (tmp_path / "p.png").exists())
