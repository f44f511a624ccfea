"""The RSS benchmark runs against the simulator it starts in a separate process.

``bench/bench_rss.py`` is how the collector's resident memory is told apart from the
simulator's (``observer run --simulate`` hosts both in one process, so its RSS counts the
simulator's per-day market checkpoints and ground-truth log too). It reads the credentials
file ``observer simulate`` writes; run small, it must get through a slice and report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "bench" / "bench_rss.py"


def test_bench_rss_reads_the_simulators_credentials_and_reports() -> None:
    """A one-minute slice of 20 symbols runs to its report (collector and simulator RSS)."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--hours", str(1 / 60), "--symbols", "20", "--scalp", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (0, "") == (done.returncode, done.stderr[-2000:])
    assert "collector baseline (before collection)" in done.stdout
    assert "second-half growth" in done.stdout
