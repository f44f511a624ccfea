"""Benchmark: resident memory of the collector over a simulated session (should stay flat).

The real main job runs a slice of a session at high speed against the simulator, which here
runs as a *separate process* (``observer simulate``), so the collector's RSS is measured
alone: the simulator keeps per-symbol market checkpoints and a ground-truth log that grow
with the session by design, and in-process they would be counted against the collector.
Both RSS figures are sampled every wall second from /proc.

Reported: the collector's RSS right before collection starts (the baseline: interpreter,
imports, clients), then at each tenth of the run, the peak, and the growth over the second
half (a leak grows steadily; flat stays within allocator noise); the simulator's for
comparison.

    python bench/bench_rss.py                        # 20 minutes of session at 20x (~1 min)
    python bench/bench_rss.py --hours 6.5            # the whole session (~20 min)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import anyio
import httpx

from observer._clock import SimulatedClock
from observer.collect import RunSettings, fetch_master_list, run_collection
from observer.kis import KisConfig, Secret
from observer.schedule import SchedulePlan, TradingSession
from observer.status import RunStatus
from pipeline import KST, Environment

DAY = dt.date(2025, 11, 12)
SESSION = TradingSession(
    day=DAY,
    open=dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST),
    close=dt.datetime(2025, 11, 12, 15, 30, tzinfo=KST),
)
_PAGE = os.sysconf("SC_PAGE_SIZE")
_WARMUP = dt.timedelta(seconds=20)


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


async def sample(out: list[tuple[float, float, float]], sim_pid: int) -> None:
    started = time.monotonic()
    while True:
        out.append((time.monotonic() - started, rss_mb(), rss_mb(sim_pid)))
        await anyio.sleep(1.0)


async def wait_for(path: Path, timeout_s: float) -> dict[str, str]:
    with anyio.fail_after(timeout_s):
        # a bench helper polling one small file the simulator writes once: no event to await
        while not path.exists() or not path.stat().st_size:  # noqa: ASYNC110, ASYNC240
            await anyio.sleep(0.05)
    # the [kis] table ``observer simulate --credentials-file`` writes (whole, by a rename)
    data: dict[str, str] = tomllib.loads(path.read_text())["kis"]  # noqa: ASYNC240 - tiny, once
    return data


async def main(args: argparse.Namespace) -> None:
    start = SESSION.open - _WARMUP
    length = dt.timedelta(hours=args.hours) + _WARMUP
    plan = SchedulePlan.for_session(SESSION, start=start, length=length, collect_from=SESSION.open)
    samples: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        creds_path = Path(tmp) / "sim.json"
        sim = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured run
            [
                sys.executable, "-c", "from observer.cli import main; main()", "simulate",
                "--symbols", str(args.symbols), "--day", DAY.isoformat(),
                "--start", f"{start:%H:%M:%S}", "--speed", f"{args.speed:g}",
                "--credentials-file", str(creds_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            creds = await wait_for(creds_path, 60)
            async with httpx.AsyncClient(base_url=creds["rest_url"]) as http:
                sent = time.monotonic()
                now = (await http.get("/sim/admin/clock")).json()
                rtt = time.monotonic() - sent
            # our clock follows the simulator's (the same system monotonic clock drives both)
            clock = SimulatedClock(
                dt.datetime.fromisoformat(now["now"]) + dt.timedelta(seconds=rtt / 2 * args.speed),
                speed=float(now["speed"]),
            )
            clock.now()  # anchor it now
            codes = await fetch_master_list(f"{creds['rest_url']}/sim/v1/master")
            kis = KisConfig(
                environment=Environment.SIM,
                app_key=Secret(""),
                app_secret=Secret(""),
                token_cache_dir=None,
            ).bind_simulator(
                rest_url=creds["rest_url"],
                ws_url=creds["ws_url"],
                app_key=creds["app_key"],
                app_secret=creds["app_secret"],
            )
            baseline = rss_mb()
            async with anyio.create_task_group() as tg:
                tg.start_soon(sample, samples, sim.pid)
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
        finally:
            sim.terminate()
            sim.wait(10)
    print(
        f"RSS over {args.hours * 60:.0f} min of session at {args.speed:g}x: "
        f"{args.symbols} symbols, {args.scalp} scalp; {result.snapshots} snapshots, "
        f"{result.raw_events} raw events, lost {result.lost} of {result.expected}"
    )
    print(f"  collector baseline (before collection)   {baseline:8.1f} MB")
    n = len(samples)
    for tenth in range(1, 11):
        t, mb, sim_mb = samples[min(n - 1, tenth * n // 10 - 1)]
        print(
            f"  {tenth * 10:3d} % of the run ({t:6.1f} s)   collector {mb:8.1f} MB"
            f"   simulator {sim_mb:8.1f} MB"
        )
    peak = max(mb for _, mb, _ in samples)
    half = samples[n // 2 :]
    growth = half[-1][1] - half[0][1]
    sim_growth = half[-1][2] - half[0][2]
    print(
        f"  collector peak {peak:.1f} MB ({peak / baseline:.2f}x baseline); second-half growth "
        f"{growth:+.1f} MB (simulator {sim_growth:+.1f} MB)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1 / 3, help="session hours to simulate")
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--scalp", type=int, default=20)
    anyio.run(main, parser.parse_args())
