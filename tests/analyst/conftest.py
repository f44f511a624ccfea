from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from observer.analyst import SampleSummary
from tests.analyst.helpers import copy_tree, make_sample


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    """The two-day sample archive, shared read-only by the tests of this directory."""
    root = tmp_path_factory.mktemp("sample") / "archive"
    return root, make_sample(root)


@pytest.fixture
def sample_root(sample: tuple[Path, SampleSummary]) -> Path:
    """Root of the shared sample archive (read-only)."""
    return sample[0]


@pytest.fixture
def own_root(sample: tuple[Path, SampleSummary], tmp_path: Path) -> Path:
    """A private copy of the sample archive that the test may damage."""
    return copy_tree(sample[0], tmp_path / "archive")


@pytest.fixture(scope="session")
def simulated_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``observer-archive`` written by two simulated minutes of ``observer run --simulate``,
    with a pipeline config (spreads rounded to one digit) that the journal must carry for
    ``observer rederive`` to reproduce the archive without being told."""
    base = tmp_path_factory.mktemp("simulated")
    root = base / "observer-archive"
    stages = base / "stages.toml"
    stages.write_text("[enrichment]\nspread_bps_digits = 1\n")
    command = [
        sys.executable,
        "-c",
        "from observer.cli import main; main()",
        "run",
        "--simulate",
        "--archive-root",
        str(root),
        "--day",
        "2026-11-24",
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
        "--pipeline-config",
        str(stages),
    ]
    done = subprocess.run(command, capture_output=True, timeout=100, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return root
