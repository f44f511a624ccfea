"""The swing cycles quote the scalp symbols too, first: a socket trade carries no daily price
limits, so a scalp symbol's band comes from its swing quote, also when the universe lacks it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from observer.collect import read_journal
from pipeline import CycleStarted, Mode
from tests.e2e._harness import DAY, SliceRun, simulate_slice
from tests.e2e.test_main_command import MAIN


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory) -> SliceRun:
    """One simulated minute; the universe lists two of the five scalp symbols, at its end."""
    root = tmp_path_factory.mktemp("swing-scalp") / "archive"
    with anyio.fail_after(60):
        return await simulate_slice(
            root, length=dt.timedelta(minutes=1), n_symbols=40, listed_scalp=2
        )


def _swing_starts(run: SliceRun) -> list[CycleStarted]:
    return [
        e
        for e in read_journal(run.root, DAY)
        if isinstance(e, CycleStarted) and e.mode is Mode.SWING
    ]


@pytest.mark.anyio
async def test_swing_cycles_expect_the_scalp_symbols_the_universe_lacks(run: SliceRun) -> None:
    """Every swing cycle (09:00 and the final 09:01) expects the universe and all scalp
    symbols, each once, in its CycleStarted and its ledger entry."""
    every = len(set(run.universe) | set(run.scalp))
    ledger = [e.expected for e in run.ledger if e.mode is Mode.SWING]
    starts = [len(set(e.symbols)) for e in _swing_starts(run)]
    assert ([every, every], [every, every]) == (starts, ledger)


@pytest.mark.anyio
async def test_swing_snapshots_of_the_scalp_only_symbols_are_archived(run: SliceRun) -> None:
    """The scalp symbols the universe lacks are archived as swing snapshots, every cycle."""
    lacking = [s for s in run.scalp if s not in run.universe]
    swing = [s.symbol for s in run.snapshots() if s.mode is Mode.SWING]
    assert {s: 2 for s in lacking} == {s: swing.count(s) for s in lacking}


@pytest.mark.anyio
async def test_the_scalp_symbols_come_first_in_the_swing_order(run: SliceRun) -> None:
    """The swing order is the scalp symbols, then the universe's others in its order."""
    others = tuple(s for s in run.universe if s not in run.scalp)
    assert [(*run.scalp, *others)] * 2 == [e.symbols for e in _swing_starts(run)]


@pytest.mark.anyio
async def test_the_run_logs_once_the_scalp_symbols_it_added_to_the_swing(run: SliceRun) -> None:
    """One ``swing_adds_scalp_symbols`` event names the scalp symbols the universe lacks."""
    lacking = [s for s in run.scalp if s not in run.universe]
    size = len(set(run.universe) | set(run.scalp))
    events = run.events("swing_adds_scalp_symbols")
    assert [(lacking, size)] == [(e["symbols"], e["swing_symbols"]) for e in events]


@pytest.mark.anyio
async def test_the_status_counts_the_scalp_symbols_in_the_swing_universe(run: SliceRun) -> None:
    """The status endpoint's ``universe_size`` is what a swing cycle quotes."""
    assert run.status is not None
    assert len(set(run.universe) | set(run.scalp)) == run.status.universe_size


def test_a_paper_universe_that_fits_only_without_the_scalp_symbols_is_refused(
    tmp_path: Path,
) -> None:
    """A paper account fits 192 current-price calls in a 120 s interval: 191 universe
    symbols and two scalp symbols it lacks are 193, refused at start (exit 2)."""
    (tmp_path / "universe.txt").write_text("".join(f"{n:06d}\n" for n in range(1, 192)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIS_")}
    env |= {
        "KIS_ENV": "paper",
        "KIS_APP_KEY": "k" * 36,
        "KIS_APP_SECRET": "s" * 180,
        "KIS_WS_SYMBOLS": "900001,900002",
        "KIS_REST_URL": "http://127.0.0.1:9",  # (nothing listens: nothing leaves the host)
        "KIS_WS_URL": "ws://127.0.0.1:9",
        "KIS_TOKEN_CACHE_DIR": str(tmp_path / "tokens"),
        "TERM": "dumb",
    }
    args = ["run", "--no-status", "--quiet", "--universe", "universe.txt"]
    proc = subprocess.run(
        [sys.executable, "-P", "-c", MAIN, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    err = " ".join(proc.stderr.split())
    assert (2, True) == (proc.returncode, "swing universe of 193 symbols" in err), err[-600:]
