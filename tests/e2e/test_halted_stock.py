"""A stock halted all day (거래정지), end to end: the real main job collects from the embedded
simulator (``SimConfig.halted_symbols``) over loopback and the archive is read back.

KIS quotes a halted stock with open/high/low ``0`` (reference §5.1); the converters map them to
``None``, so Validation archives the stock's swing snapshots instead of rejecting them every
cycle as ``non_positive_price``. Two runs: the live path (``intstock-multprice``, whose rows
carry no halt flag, reference §5.3) and the paper path (``inquire-price``, ``temp_stop_yn``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import anyio
import pytest

from archive import open_archive
from observer._clock import Clock
from observer.collect import RunSettings, fetch_master_list, run_collection
from observer.collect._simthread import simulator_thread
from observer.schedule import SchedulePlan, TradingSession
from observer.sim import SimConfig, SimMarket
from observer.status import RunStatus
from pipeline import KST, Environment, LedgerEntry, Mode, ObservationSnapshot
from tests.e2e._harness import sim_kis

DAY = dt.date(2025, 11, 12)  # an ordinary Wednesday session
SESSION = TradingSession(
    day=DAY,
    open=dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST),
    close=dt.datetime(2025, 11, 12, 15, 30, tzinfo=KST),
)
WARMUP = dt.timedelta(seconds=30)
LENGTH = dt.timedelta(minutes=3)
CYCLES = 3  # swing cycles at 09:00, 09:02 and the slice's end, 09:03
HALTED_AT = 3  # the universe's fourth symbol is halted


class HaltRun:
    def __init__(self, halted: str, prev_close: int, ledger: list[LedgerEntry], root: Path) -> None:
        self.halted = halted
        self.prev_close = prev_close
        self.ledger = ledger
        self.snapshots: list[ObservationSnapshot] = list(open_archive(root).snapshots())

    def swing_of_halted(self) -> list[ObservationSnapshot]:
        return [s for s in self.snapshots if s.mode is Mode.SWING and s.symbol == self.halted]

    def swing_cycles(self) -> list[LedgerEntry]:
        return [e for e in self.ledger if e.mode is Mode.SWING]


async def _collect(root: Path, environment: Environment) -> HaltRun:
    """Three market minutes from 09:00 of a 12-symbol universe, one symbol halted, at 30x."""
    begin = dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=KST)
    start = begin - WARMUP
    plan = SchedulePlan.for_session(
        SESSION, start=start, length=LENGTH + WARMUP, collect_from=begin
    )
    halted = SimMarket(7, 12, DAY).symbols[HALTED_AT].code
    config = SimConfig(
        seed=7,
        n_symbols=12,
        trading_day=DAY,
        start_time=start.timetz().replace(tzinfo=None),
        speed=30.0,
        token_issue_interval_s=1.0,
        rate_in_market_time=True,
        halted_symbols=(halted,),
    )
    async with simulator_thread(config) as sim:
        universe = tuple(await fetch_master_list(sim.master_url))
        sym = sim.market.symbol(halted)
        assert sym is not None
        prev_close = sim.market.limits(sym)[0]
        kis = sim_kis(sim, environment, 18.0)
        clock: Clock = sim.clock
        await run_collection(
            RunSettings(archive_root=str(root), status_port=None),
            kis=kis,
            clock=clock,
            plans=lambda: iter([plan]),
            universe=universe,
            status=RunStatus(now=clock.now, archive_root=str(root)),
            rate_clock=clock,
        )
    return HaltRun(halted, prev_close, list(open_archive(root).ledger()), root)


@pytest.fixture(scope="module")
def live_path(tmp_path_factory: pytest.TempPathFactory) -> HaltRun:
    root = tmp_path_factory.mktemp("halt-live")
    return anyio.run(_collect, root, Environment.SIM)


@pytest.fixture(scope="module")
def paper_path(tmp_path_factory: pytest.TempPathFactory) -> HaltRun:
    root = tmp_path_factory.mktemp("halt-paper")
    return anyio.run(_collect, root, Environment.PAPER)


def test_halted_stock_is_archived_every_swing_cycle_without_open_high_low(
    live_path: HaltRun,
) -> None:
    """Multi-price path: one snapshot per cycle, the previous close as the price, no
    open/high/low, no volume, no best ask/bid."""
    shown = [
        (s.last, s.prev_close, s.open, s.high, s.low, s.volume, s.ask, s.bid)
        for s in live_path.swing_of_halted()
    ]
    p = live_path.prev_close
    assert [(p, p, None, None, None, 0, None, None)] * CYCLES == shown


@pytest.mark.parametrize("path", ["live_path", "paper_path"])
def test_halted_stock_is_never_rejected_or_lost(path: str, request: pytest.FixtureRequest) -> None:
    """Multi-price and inquire-price paths: no swing cycle rejects anything or loses the
    halted stock."""
    run: HaltRun = request.getfixturevalue(path)
    marked = [
        (e.cycle_id, e.rejected, e.lost_by_symbol.get(run.halted, 0))
        for e in run.swing_cycles()
        if e.rejected or run.halted in e.lost_by_symbol
    ]
    assert (CYCLES, []) == (len(run.swing_cycles()), marked)


def test_current_price_path_archives_the_halt_flag_and_status_58(paper_path: HaltRun) -> None:
    """inquire-price path: each cycle's snapshot says halted, status 58, no open/high/low."""
    shown = [(s.halted, s.status_code, s.open, s.high, s.low) for s in paper_path.swing_of_halted()]
    assert [(True, "58", None, None, None)] * CYCLES == shown
