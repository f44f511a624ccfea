"""Benchmark: resident memory over a simulated session (should be flat, not growing).

The real main job runs a slice of a session against the simulator at high speed; RSS of the
process (collector + simulator thread) is sampled every wall second from /proc. Reported: the
baseline right before collection starts, then RSS at each tenth of the run, the peak, and the
growth over the second half (a leak grows steadily; a flat run stays within noise).

    python bench/bench_rss.py                       # 20 minutes of session at 20x (~1 min)
    python bench/bench_rss.py --hours 6.5 --speed 20    # the whole session (~20 min)

Faster than about 20x the simulator (same process) cannot keep up and the run itself starts
losing observations, which measures the overload rather than the collector. The simulator's
ground-truth log is capped at a few thousand records here: it keeps every record it served
by design, which is test scaffolding, not the collector's memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import anyio

from observer._clock import Clock
from observer.collect import RunSettings, fetch_master_list, run_collection
from observer.collect._simthread import simulator_thread
from observer.kis import KisConfig, Secret
from observer.schedule import SchedulePlan, TradingSession
from observer.sim import SimConfig
from observer.status import RunStatus
from pipeline import KST, Environment

DAY = dt.date(2025, 11, 12)
SESSION = TradingSession(
    day=DAY,
    open=dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST),
    close=dt.datetime(2025, 11, 12, 15, 30, tzinfo=KST),
)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


async def sample(out: list[tuple[float, float]]) -> None:
    started = time.monotonic()
    while True:
        out.append((time.monotonic() - started, rss_mb()))
        await anyio.sleep(1.0)


async def main(args: argparse.Namespace) -> None:
    start = SESSION.open - dt.timedelta(seconds=10)
    length = dt.timedelta(hours=args.hours) + dt.timedelta(seconds=10)
    plan = SchedulePlan.for_session(SESSION, start=start, length=length)
    config = SimConfig(
        n_symbols=args.symbols,
        trading_day=DAY,
        start_time=start.timetz().replace(tzinfo=None),
        speed=args.speed,
        truth_max_records=5_000,
    )
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with simulator_thread(config) as sim:
            codes = await fetch_master_list(sim.master_url)
            kis = KisConfig(
                environment=Environment.SIM,
                app_key=Secret(""),
                app_secret=Secret(""),
                token_cache_dir=None,
            ).bind_simulator(
                rest_url=sim.rest_url,
                ws_url=sim.ws_url,
                app_key=sim.app_key,
                app_secret=sim.app_secret,
            )
            clock: Clock = sim.clock
            baseline = rss_mb()
            async with anyio.create_task_group() as tg:
                tg.start_soon(sample, samples)
                result = await run_collection(
                    RunSettings(
                        archive_root=str(Path(tmp) / "archive"),
                        scalp_symbols=codes[: args.scalp],
                        status_port=None,
                    ),
                    kis=kis,
                    clock=clock,
                    plans=lambda: iter([plan]),
                    universe=codes[args.scalp :],
                    status=RunStatus(now=clock.now),
                )
                tg.cancel_scope.cancel()
    print(
        f"RSS over {args.hours * 60:.0f} min of session at {args.speed:g}x: "
        f"{args.symbols} symbols, {args.scalp} scalp; {result.snapshots} snapshots, "
        f"{result.raw_events} raw events, "
        f"lost {result.lost} of {result.expected}"
    )
    print(f"  baseline (simulator up, before collection)  {baseline:8.1f} MB")
    n = len(samples)
    for tenth in range(1, 11):
        t, mb = samples[min(n - 1, tenth * n // 10 - 1)]
        print(f"  {tenth * 10:3d} % of the run ({t:6.1f} s)              {mb:8.1f} MB")
    peak = max(mb for _, mb in samples)
    half = samples[n // 2 :]
    growth = half[-1][1] - half[0][1]
    print(
        f"  peak {peak:.1f} MB ({peak / baseline:.2f}x baseline); "
        f"second-half growth {growth:+.1f} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1 / 3, help="session hours to simulate")
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--scalp", type=int, default=20)
    anyio.run(main, parser.parse_args())
