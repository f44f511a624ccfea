"""`observer run` whose archive cannot take another byte (disk full; here a file size limit,
the same OSError path): one clear line, the session's end logged with the error, and an
archive the next run resumes."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_main_command import MAIN

# Segment files may not grow past 40 KiB: the raw scalp segment hits it within seconds,
# while scalp cycles are open (the log file stays smaller).
_FILE_LIMIT = 40 << 10
_RUN = ["--simulate", "--archive-root", "a", "--day", "2026-11-25", "--speed", "20"]
_QUICK = ["--sim-symbols", "60", "--no-status", "--quiet"]


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_LIMIT, resource.RLIM_INFINITY))


def _run(cwd: Path, *args: str, limited: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-c", MAIN, "run", *_RUN, *_QUICK, *args],
        cwd=cwd,
        env={**os.environ, "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size if limited else None,
    )


def _events(root: Path, name: str) -> list[dict[str, object]]:
    lines = [ln for p in sorted(root.glob("logs/*.jsonl")) for ln in p.read_text().splitlines()]
    return [e for e in map(json.loads, lines) if e.get("event") == name]


def test_a_write_error_ends_the_session_with_one_line_and_a_logged_end(tmp_path: Path) -> None:
    """The archive failing mid-session: no traceback, one line naming it, session_ended with it."""
    proc = _run(tmp_path, "--start", "10:00", "--length", "1m", limited=True)
    ended = _events(tmp_path / "a", "session_ended")
    errors = [str(e.get("error", "")) for e in ended]
    expected = (True, 1, True, 1, True)
    assert expected == (
        proc.returncode != 0,
        len(proc.stderr.splitlines()),
        proc.stderr.startswith("observer run: archive root a: "),
        len(ended),
        all("cannot write frame: File too large" in e for e in errors),
    ), proc.stderr[-2000:]


def test_the_day_a_write_error_cut_resumes_to_an_archive_verify_passes(tmp_path: Path) -> None:
    """What the write error left is a prefix of the frames in the order they were cut: the
    next run resumes the day (no seq regression) and verify finds nothing wrong, except
    perhaps holes in the raw journal's numbering, which it must name.

    (Raw partitions buffer apart: a scalp frame cut after a swing frame can hold lower seqs
    than it. When the failed frame is such a one, its seqs are holes below seqs on disk;
    on an idle machine the cuts fall so that they are not, under load they can be. Those
    events are lost either way; the resume books their observations as missed.)"""
    cut = _run(tmp_path, "--start", "10:00", "--length", "1m", limited=True)
    resumed = _run(tmp_path, "--start", "10:01", "--length", "1m", limited=False)
    verify = subprocess.run(
        [sys.executable, "-P", "-c", MAIN, "verify", "a", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = [line for line in verify.stdout.splitlines() if line.startswith("PROBLEM")]
    others = [p for p in problems if "/raw/" not in p or ": the journal misses " not in p]
    expected = (True, 0, verify.returncode != 0, [])
    assert expected == (cut.returncode != 0, resumed.returncode, bool(problems), others), (
        resumed.stderr[-1500:] + verify.stdout[-1500:]
    )
