"""The live ``observer run`` (wall clock, KRX calendar, APScheduler, ``[kis]`` from a file)
against ``observer simulate --start now``, both as subprocesses over loopback: the way an
operator rehearses the production job without KIS credentials.

Outside KRX hours the run plans the next session and waits for its login; inside them it
logs in and collects. Either way it serves its status, a SIGTERM seals what it has and it
exits 130, and no credential of the simulator reaches its output or its log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

import httpx

from pipeline import KST

# run as `python -P -c MAIN`: the console script's sys.path, without the cwd (where an
# `archive` folder would shadow the package of an editable install)
MAIN = "from observer.cli import main; main()"
T = TypeVar("T")


def _launch(name: str, args: list[str], cwd: Path, files: ExitStack) -> subprocess.Popen[bytes]:
    """``observer *args`` with its output in ``<name>.out`` and ``<name>.err``. Hermetic: no
    KIS_* variable of the caller's, and the token cache under ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIS_")}
    env.update(TERM="dumb", HOME=str(cwd), XDG_CACHE_HOME=str(cwd / "cache"))
    return subprocess.Popen(
        [sys.executable, "-P", "-c", MAIN, *args],
        cwd=cwd,
        env=env,
        stdout=files.enter_context((cwd / f"{name}.out").open("wb")),
        stderr=files.enter_context((cwd / f"{name}.err").open("wb")),
    )


def _wait_for(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll ``probe`` until it gives something, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout:g} s")


def _status_port(err: Path) -> int | None:
    match = re.search(rb"status: http://127\.0\.0\.1:(\d+)/", err.read_bytes())
    return int(match.group(1)) if match else None


def _status(port: int) -> dict[str, object] | None:
    """The session status once the run has planned a day (``trading_day`` set)."""
    try:
        body: dict[str, object] = httpx.get(
            f"http://127.0.0.1:{port}/v1/session/status", timeout=5
        ).json()
    except httpx.HTTPError:
        return None
    return body if body["trading_day"] else None


def test_live_run_plans_serves_and_seals_against_a_simulator_on_the_wall_clock(
    tmp_path: Path,
) -> None:
    """``observer run --config <credentials file> --universe <universe file> --forever``:
    a planned day whose login falls on it, the status endpoint up, exit 130 on SIGTERM with
    every segment sealed, and the simulator's key and secret in none of its output."""
    files = ExitStack()
    sim = _launch(
        "sim",
        [
            "simulate",
            "--symbols",
            "30",
            "--start",
            "now",
            "--credentials-file",
            "sim.toml",
            "--universe-file",
            "universe.txt",
            "--duration",
            "100",
        ],
        tmp_path,
        files,
    )
    run = None
    try:
        credentials = tmp_path / "sim.toml"
        _wait_for("credentials file", lambda: credentials.exists() or None, 30)
        kis = tomllib.loads(credentials.read_text())["kis"]
        run = _launch(
            "run",
            [
                "run",
                "--config",
                "sim.toml",
                "--universe",
                "universe.txt",
                "--scalp-symbols",
                "005930,000660",
                "--forever",
                "--status-port",
                "0",
                "--archive-root",
                "archive",
            ],
            tmp_path,
            files,
        )
        port = _wait_for("status port", lambda: _status_port(tmp_path / "run.err"), 60)
        status = _wait_for("planned day", lambda: _status(port), 30)
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=60)
    finally:
        for proc in (run, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)
        files.close()
    day = str(status["trading_day"])
    login = dt.datetime.fromisoformat(str(status["login_at"])).astimezone(KST)
    open_ = dt.datetime.fromisoformat(str(status["session_open"])).astimezone(KST)
    written = b"".join(
        p.read_bytes() for p in [tmp_path / "run.out", tmp_path / "run.err"]
    ) + b"".join(p.read_bytes() for p in (tmp_path / "archive" / "logs").glob("*.jsonl"))
    planned = [
        json.loads(line)
        for line in written.splitlines()
        if line.startswith(b"{") and b'"session_planned"' in line
    ]
    expected = (130, True, day, day, [day], [], False, False)
    assert expected == (
        code,
        status["state"] in {"waiting", "logging_in", "collecting"},
        login.date().isoformat(),
        open_.date().isoformat(),
        [p["day"] for p in planned],
        list((tmp_path / "archive").glob("**/*.open")),
        kis["app_key"].encode() in written,
        kis["app_secret"].encode() in written,
    ), written.decode(errors="replace")[-1500:]
