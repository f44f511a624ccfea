"""The README's main command as a subprocess: it runs, seals, prints its archive and loss."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive import open_archive
from pipeline import KST, CycleStarted

# run as `python -P -c MAIN`: the console script's sys.path, without the cwd (where an
# `archive` folder would shadow the package of an editable install)
MAIN = "from observer.cli import main; main()"
SHORT = ["--length", "2m", "--speed", "10", "--sim-symbols", "300", "--no-status", "--quiet"]


def observer(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TERM": "dumb"}
    return subprocess.Popen(
        [sys.executable, "-P", "-c", MAIN, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_run_simulate_exits_zero_and_prints_archive_and_loss(tmp_path: Path) -> None:
    """`observer run --simulate` (short slice) exits 0 and names the archive and its loss."""
    proc = observer("run", "--simulate", *SHORT, cwd=tmp_path)
    out, err = proc.communicate(timeout=110)
    lines = out.splitlines()
    assert (0, f"archive: {tmp_path / 'observer-archive'}", True) == (
        proc.returncode,
        lines[0] if lines else err[-500:],
        len(lines) > 1 and lines[1].startswith("loss: 0 of "),
    )


@pytest.mark.slow
def test_sigterm_cuts_the_run_books_the_cut_and_seals(tmp_path: Path) -> None:
    """SIGTERM mid-run: exit 130, every segment sealed, every cycle started has its entry."""
    proc = observer("run", "--simulate", *SHORT, "--length", "30m", cwd=tmp_path)
    root = tmp_path / "observer-archive"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(root.glob("ledger/**/*.jsonl.zst*")):
        time.sleep(0.2)  # wait for the first cycle to be booked, bounded by the deadline
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    open_segments = list(root.glob("**/*.open"))
    reader = open_archive(root)
    started = {e.cycle_id for e in reader.raw() if isinstance(e, CycleStarted)}
    booked = {e.cycle_id for e in reader.ledger()}
    assert (130, [], started) == (proc.returncode, open_segments, booked)


@pytest.mark.slow
def test_run_killed_and_restarted_books_the_outage_and_finishes(tmp_path: Path) -> None:
    """SIGKILL mid-run, then the same command again: it recovers, books the gap, exits 0."""
    first = observer("run", "--simulate", *SHORT, "--length", "30m", cwd=tmp_path)
    root = tmp_path / "observer-archive"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(root.glob("ledger/**/*.jsonl.zst*")):
        time.sleep(0.2)  # wait for the first cycle to be booked, bounded by the deadline
    first.kill()
    first.communicate(timeout=30)
    second = observer("run", "--simulate", *SHORT, "--start", "09:02", cwd=tmp_path)
    _out, err = second.communicate(timeout=110)
    ledger = list(open_archive(root).ledger())
    causes = {c for e in ledger for c in e.failed}
    assert (0, [], True) == (
        second.returncode,
        list(root.glob("**/*.open")),
        "missed" in causes,
    ), err[-800:]


def test_ctrl_c_during_the_warm_up_stops_at_once_and_says_so(tmp_path: Path) -> None:
    """SIGINT while a mid-day slice computes its market (before the run handles signals):
    exit 130 within seconds, a line that says so, no snapshot collected."""
    args = ["--start", "14:00", "--sim-symbols", "2500", "--no-status", "--length", "1m"]
    proc = observer("run", "--simulate", *args, cwd=tmp_path)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "computing the simulated market ... first": bounded by it
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, err = proc.communicate(timeout=60)
    collected = any((tmp_path / "observer-archive").glob("snapshots/**/*.zst"))
    assert (True, 130, True, False, True) == (
        "computing the simulated market" in first,
        proc.returncode,
        "observer run: interrupted" in err,
        collected,
        time.monotonic() - started < 20,
    ), first + err[-600:]


def test_a_late_opening_from_the_config_file_moves_the_simulated_session(tmp_path: Path) -> None:
    """``[run] late_opens`` (a CSAT day: 10:00-16:30) applies to ``--simulate``: a slice at
    15:40 runs (the usual day would have closed) and the simulated market trades through
    it, so the socket's snapshots carry 15:40 exchange times that the stages call regular."""
    (tmp_path / "observer.toml").write_text('[run]\nlate_opens = ["2026-11-19"]\n')
    args = ["--config", "observer.toml", "--day", "2026-11-19", "--start", "15:40"]
    quick = ["--no-status", "--sim-symbols", "60", "--length", "15s", "--scalp-symbols", "005930"]
    proc = observer("run", "--simulate", "--archive-root", "a", *args, *quick, cwd=tmp_path)
    out, err = proc.communicate(timeout=90)
    late = [
        (s.exchange_time.astimezone(KST).strftime("%H:%M"), str(s.enrichment.session_phase))
        for s in open_archive(tmp_path / "a").snapshots(source="kis-ws")
        if s.enrichment is not None
    ]
    assert (0, True, {"regular"}, True, False) == (
        proc.returncode,
        out.startswith("archive: "),
        {phase for _at, phase in late},
        ("15:40", "regular") in late,
        "note" in err,
    ), err[-600:]
