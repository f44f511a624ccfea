"""Benchmark: one full swing cycle (2,500 symbols, 84 multi-price calls) against the simulator.

Compared in the same run with
- the floor the rate limit sets: 84 calls / 20 per second = 4.2 s;
- a baseline of the same 84 calls made one after another by the bare KIS client at the same
  rate, with nothing journaled, projected or archived (the naive loop: each call waits for
  the previous answer; the collector keeps a few in flight under the shared limiter).

Target (issue 4): the cycle takes at most 1.25x the floor, with no EGW00201.

    python bench/bench_swing_cycle.py                # 2,500 symbols, client rate 18/s
    python bench/bench_swing_cycle.py --rate 20      # at the full 20/s
    python bench/bench_swing_cycle.py --symbols 600  # smaller
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import anyio

from archive import ArchiveWriter
from observer._clock import Clock
from observer.collect import Journal, Projector, SwingCollector, fetch_master_list
from observer.collect._journal import ArchiveRecord, run_archive_sink
from observer.collect._simthread import simulator_thread
from observer.kis import KisConfig, KisRestClient, RateLimiter, Secret, SystemClock
from observer.schedule import Tick, TickKind
from observer.sim import SimConfig
from observer.status import MeteredSendStream, RunStatus
from pipeline import KST, Environment

DAY = dt.date(2025, 11, 12)


async def main(args: argparse.Namespace) -> None:
    config = SimConfig(n_symbols=args.symbols, trading_day=DAY, start_time=dt.time(9, 0), speed=1.0)
    async with simulator_thread(config) as sim:
        universe = await fetch_master_list(sim.master_url)
        kis = KisConfig(
            environment=Environment.SIM,
            app_key=Secret(""),
            app_secret=Secret(""),
            token_cache_dir=None,
            rest_rate_per_s=args.rate,
        ).bind_simulator(
            rest_url=sim.rest_url,
            ws_url=sim.ws_url,
            app_key=sim.app_key,
            app_secret=sim.app_secret,
        )
        clock: Clock = sim.clock
        calls = -(-len(universe) // 30)
        floor = calls / 20.0

        limiter = RateLimiter(args.rate, clock=SystemClock())
        async with KisRestClient(kis, clock=clock, limiter=limiter) as client:
            await client.auth.access_token()

            async def bare_cycle() -> float:
                started = time.perf_counter()
                for i in range(0, len(universe), 30):
                    await client.inquire_multi_price(universe[i : i + 30])
                return time.perf_counter() - started

            # baseline: the bare client, same calls, same rate, nothing downstream
            # (run twice: the first pass also warms the simulator's per-symbol state)
            await bare_cycle()
            await anyio.sleep(1.1)  # a fresh rate window
            baseline = await bare_cycle()
            baseline_limited = client.rate_limited
            await anyio.sleep(1.1)

            # the swing collector: journal, projection (stages), archive on disk
            client.limiter = RateLimiter(args.rate, clock=SystemClock())
            with tempfile.TemporaryDirectory() as tmp:
                status = RunStatus(now=clock.now)
                writer = ArchiveWriter(Path(tmp))
                send, receive = anyio.create_memory_object_stream[ArchiveRecord](4096)
                sink = MeteredSendStream(send, status.stream("archive"))
                journal = Journal(Projector(), sink, status)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(run_archive_sink, writer, receive)
                    swing = SwingCollector(
                        client=client,
                        journal=journal,
                        clock=clock,
                        universe=universe,
                        environment=Environment.SIM,
                        interval=dt.timedelta(minutes=2),
                    )
                    tick = Tick(kind=TickKind.SWING, scheduled=clock.now())
                    started = time.perf_counter()
                    await swing.run_cycle(tick, clock.now().astimezone(KST).date())
                    cycle = time.perf_counter() - started
                    await send.aclose()
                writer.close()
            collector_limited = client.rate_limited - baseline_limited
    print(
        f"swing cycle: {len(universe)} symbols, {calls} multi-price calls, "
        f"client rate {args.rate:g}/s"
    )
    print(f"  floor (calls / 20 per s)        {floor:7.3f} s   1.00x")
    print(
        f"  baseline: bare client, 1 call at a time {baseline:7.3f} s   {baseline / floor:4.2f}x   "
        f"EGW00201 retries {baseline_limited}"
    )
    print(
        f"  swing collector (journal, stages, archive) {cycle:7.3f} s   {cycle / floor:4.2f}x   "
        f"EGW00201 retries {collector_limited}   archived {status.snapshots}"
    )
    print(
        f"  collector / baseline            {cycle / baseline:4.2f}x   "
        f"target <= 1.25x floor: {'met' if cycle <= 1.25 * floor else 'NOT met'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=2500)
    parser.add_argument("--rate", type=float, default=18.0, help="client requests per second")
    anyio.run(main, parser.parse_args())
