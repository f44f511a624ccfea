"""Acceptance on a real archive: ``observer run --simulate``, then the analyst commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from archive import open_archive
from observer.analyst._rederive import rederive
from observer.analyst._report import build_report
from observer.analyst._verify import verify_archive
from observer.cli import cli


@pytest.mark.slow
def test_simulated_run_rederives_byte_for_byte(simulated_root: Path) -> None:
    """The live projection and a re-run over the journal write the same bytes."""
    result = rederive(simulated_root)
    expected = (True, [], True)
    assert expected == (result.identical, result.differences, result.raw_events > 0)


@pytest.mark.slow
def test_simulated_run_verifies(simulated_root: Path) -> None:
    """Every sealed segment of a finished run matches its manifest; nothing is open."""
    result = verify_archive(simulated_root)
    expected: tuple[list[object], int] = ([], 0)
    assert expected == (result.problems, result.open_segments)


@pytest.mark.slow
def test_simulated_run_report_counts_every_archived_snapshot(simulated_root: Path) -> None:
    """The report's archived totals equal the snapshots a replay reads."""
    rows = build_report(simulated_root).rows
    replayed = sum(1 for _ in open_archive(simulated_root).snapshots())
    assert replayed == sum(r.archived for r in rows)


@pytest.mark.slow
def test_simulated_run_plot_and_replay_work_from_the_cli(
    simulated_root: Path, tmp_path: Path
) -> None:
    """replay and report --plot exit 0 on the run's archive."""
    runner = CliRunner()
    replay = runner.invoke(cli, ["replay", str(simulated_root)], catch_exceptions=False)
    plot = runner.invoke(
        cli,
        ["report", str(simulated_root), "--plot", str(tmp_path / "p.png")],
        catch_exceptions=False,
    )
    expected = (0, 0, True)
    assert expected == (replay.exit_code, plot.exit_code, (tmp_path / "p.png").exists())


@pytest.mark.slow
def test_rederive_follows_the_journaled_config_unless_given_one(
    simulated_root: Path, tmp_path: Path
) -> None:
    """The run's pipeline config came from a file; ``observer rederive`` without ``--config``
    reproduces the archive, and ``--config`` with the built-in settings (a what-if) does not."""
    builtin = tmp_path / "builtin.toml"
    builtin.write_text("")
    runner = CliRunner()
    journaled = runner.invoke(cli, ["rederive", str(simulated_root)], catch_exceptions=False)
    what_if = runner.invoke(
        cli, ["rederive", str(simulated_root), "--config", str(builtin)], catch_exceptions=False
    )
    expected = (0, "identical", 1, "spread_bps")
    assert expected == (
        journaled.exit_code,
        journaled.output.splitlines()[-1].split(":")[0],
        what_if.exit_code,
        "spread_bps" if "enrichment.spread_bps" in what_if.output else what_if.output[-500:],
    )
