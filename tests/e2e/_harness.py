"""Run a slice of a simulated session through the real main job and read back what it wrote.

The collectors, the archive and the simulator are all real: the simulator runs on its own
thread on loopback (as ``observer run --simulate`` does), the main job talks to it over HTTP
and WebSocket, and the archive is read back from disk. Faults are configured up front, at
market times, so nothing crosses threads while the run is going.

Ground truth: the swing universe lacks the scalp symbols (unless told to list some), as a
live universe may; the swing cycles quote them too, first (``SliceRun.swing``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

from archive import open_archive
from observer._clock import Clock
from observer.collect import RunResult, RunSettings, fetch_master_list, run_collection
from observer.collect._simthread import simulator_thread
from observer.kis import KisConfig, RetryPolicy, Secret
from observer.schedule import SchedulePlan, TradingSession
from observer.sim import FaultSpec, GroundTruth, SimConfig
from observer.status import RunStatus
from pipeline import KST, Environment, LedgerEntry, Mode, ObservationSnapshot, PipelineConfig

DAY = dt.date(2025, 11, 12)  # an ordinary Wednesday session
SESSION = TradingSession(
    day=DAY,
    open=dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST),
    close=dt.datetime(2025, 11, 12, 15, 30, tzinfo=KST),
)
WARMUP = dt.timedelta(seconds=30)  # login (and, resuming, the journal replay) before 09:00


@dataclass
class SliceRun:
    result: RunResult
    ledger: list[LedgerEntry]
    truth: GroundTruth
    universe: tuple[str, ...]
    scalp: tuple[str, ...]
    root: Path
    probed: dict[str, object] = field(default_factory=dict)  # status endpoint, mid-run
    logged: list[logging.LogRecord] = field(default_factory=list)  # the run's own log
    status: RunStatus | None = None  # the run's counters, as its endpoints served them last

    def events(self, name: str) -> list[dict[str, object]]:
        """The fields of each ``observer.run`` log event called ``name``, in order."""
        return [vars(r) for r in self.logged if r.getMessage() == name]

    @property
    def swing(self) -> tuple[str, ...]:
        """What the swing cycles quote: the scalp symbols, then the universe's others."""
        return (*self.scalp, *(s for s in self.universe if s not in self.scalp))

    def snapshots(self) -> list[ObservationSnapshot]:
        return list(open_archive(self.root).snapshots())

    def lost(self, mode: Mode | None = None) -> int:
        return sum(
            e.expected - e.archived - e.deduplicated
            for e in self.ledger
            if mode is None or e.mode is mode
        )

    def expected(self, mode: Mode | None = None) -> int:
        return sum(e.expected for e in self.ledger if mode is None or e.mode is mode)

    def truth_swing_lost(self) -> int:
        """Swing observations the simulator never served inside their cycle's window (a
        scalp symbol's REST fallback in that window counts as served: its rows look alike)."""
        served = self.truth.served(channel="FHKST11300006")
        universe = set(self.swing)
        lost = 0
        for entry in self.ledger:
            if entry.mode is not Mode.SWING:
                continue
            got = {
                r.symbol
                for r in served
                if r.symbol in universe and entry.started_at <= r.served_at <= entry.ended_at
            }
            lost += entry.expected - len(got)
        return lost


async def simulate_slice(
    root: Path,
    *,
    length: dt.timedelta = dt.timedelta(minutes=4),
    speed: float = 10.0,
    n_symbols: int = 300,
    n_scalp: int = 5,
    faults: Sequence[FaultSpec] = (),
    token_issue_interval_s: float = 1.0,
    at_time: dt.time = dt.time(9, 0),
    probe: bool = False,
    market_time_rate: bool = True,
    rest_rate_per_s: int = 20,
    pipeline_config: PipelineConfig | None = None,
    listed_scalp: int = 0,
) -> SliceRun:
    """Run ``observer run --simulate``'s job on a slice from ``at_time`` (KST) and read back
    the archive. ``market_time_rate``: the REST limit counts market seconds on both sides,
    as in ``observer run --simulate`` (``False``: wall seconds, as a real broker counts).
    ``listed_scalp``: the universe lists the last that many scalp symbols at its end."""
    begin = dt.datetime.combine(DAY, at_time, tzinfo=KST)
    start = begin - WARMUP
    plan = SchedulePlan.for_session(
        SESSION, start=start, length=length + WARMUP, collect_from=begin
    )
    config = SimConfig(
        n_symbols=n_symbols,
        trading_day=DAY,
        start_time=start.timetz().replace(tzinfo=None),
        speed=speed,
        faults=list(faults),
        token_issue_interval_s=token_issue_interval_s,
        rate_in_market_time=market_time_rate,
        rest_rate_per_s=rest_rate_per_s,
    )
    async with simulator_thread(config) as sim:
        codes = await fetch_master_list(sim.master_url)
        scalp = codes[:n_scalp]
        universe = (*codes[n_scalp:], *scalp[n_scalp - listed_scalp :])
        # (the client keeps under the gateway's limit)
        kis = sim_kis(sim, Environment.SIM, rest_rate_per_s * 0.9)
        clock: Clock = sim.clock
        status = RunStatus(now=clock.now, archive_root=str(root))
        settings = RunSettings(
            archive_root=str(root), scalp_symbols=scalp, status_port=0 if probe else None
        )
        port: list[int] = []
        probed: dict[str, object] = {}
        ready = anyio.Event()

        def on_port(number: int) -> None:
            port.append(number)
            ready.set()

        with _captured("observer.run") as logged:
            async with anyio.create_task_group() as tg:
                if probe:
                    tg.start_soon(_probe, ready, port, scalp[0], probed)
                result = await run_collection(
                    settings,
                    kis=kis,
                    clock=clock,
                    plans=lambda: iter([plan]),
                    universe=universe,
                    status=status,
                    status_port_ready=on_port,
                    rate_clock=clock if market_time_rate else None,
                    pipeline_config=pipeline_config,
                )
        truth = sim.truth
    ledger = list(open_archive(root).ledger())
    return SliceRun(result, ledger, truth, universe, scalp, root, probed, logged, status)


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.INFO)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@contextmanager
def _captured(name: str) -> Iterator[list[logging.LogRecord]]:
    """The INFO-and-above records of logger ``name`` while the block runs."""
    logger = logging.getLogger(name)
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _probe(ready: anyio.Event, port: list[int], symbol: str, out: dict[str, object]) -> None:
    """Once the run collects with its socket up, read every status route once."""
    await ready.wait()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port[0]}") as client:
        with anyio.fail_after(30):
            while True:  # the run exposes no event: polled, under the deadline above
                session = (await client.get("/v1/session/status")).json()
                quote = (await client.get(f"/v1/quotes/{symbol}")).status_code
                if session["state"] == "collecting" and session["ws_connected"] and quote == 200:
                    break
                await anyio.sleep(0.05)
        out["session"] = session
        out["quote_metrics"] = (await client.get("/v1/metrics/quote")).json()
        out["quote"] = (await client.get(f"/v1/quotes/{symbol}")).json()
        out["metrics"] = (await client.get("/metrics")).text


def sim_kis(sim: Any, environment: Environment, rest_rate_per_s: float) -> KisConfig:
    """A ``KisConfig`` bound to the simulator thread ``sim``: no token cache, retries that
    ride out the simulator's faults within a test's time."""
    return KisConfig(
        environment=environment,
        app_key=Secret(""),
        app_secret=Secret(""),
        token_cache_dir=None,
        retry=RetryPolicy(attempts=10, deadline_s=20.0, rate_limit_cooldown_s=0.2),
        rest_rate_per_s=rest_rate_per_s,
    ).bind_simulator(
        rest_url=sim.rest_url,
        ws_url=sim.ws_url,
        app_key=sim.app_key,
        app_secret=sim.app_secret,
    )


def at(hhmmss: str) -> dt.time:
    return dt.time.fromisoformat(hhmmss)


def encode_all(records: Sequence[object]) -> bytes:
    return b"\n".join(msgspec.json.encode(r) for r in records)
