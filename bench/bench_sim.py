"""Simulator benchmark: the market model's cost per quote, and the server's CPU under load.

1. Market model, in one process, on the same symbols and times:
   - naive: a fresh market per cycle (every quote recomputed from 08:30, as a model without
     cursors or checkpoints would);
   - ours:  one market asked every ``cycle_s`` market seconds (each symbol's cursor advances).
2. Server load: ``observer simulate`` in a subprocess; this process drives it with multi-price
   calls (30 symbols each, cycling through the universe) at ``--rate`` requests/s and one
   WebSocket session with 40 registrations (H0STCNT0 + H0STASP0 on 20 symbols), for
   ``--seconds`` wall seconds; the subprocess's CPU time (from /proc) is reported as a share
   of one core. Baseline in the same run: the same load at 1x market speed, and an idle
   simulator.

    python bench/bench_sim.py                 # ~1 minute
    python bench/bench_sim.py --full          # 2,500 symbols, 30 s per load step

Target (issue 3): 20 req/s x 30 symbols and ~40 WS subscriptions at 20x on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import websockets

from observer.sim import SimMarket, SymbolInfo

DAY = dt.date(2026, 11, 24)
QUOTES = "/uapi/domestic-stock/v1/quotations"


def bench_model(n_symbols: int, cycles: int, cycle_s: int) -> None:
    """Swing-like access: every symbol, 30 per call, every ``cycle_s`` market seconds."""
    start = 3600  # 09:30
    seconds = [start + i * cycle_s for i in range(1, cycles + 1)]

    def batches(m: SimMarket) -> list[list[SymbolInfo]]:
        return [list(m.symbols[i : i + 30]) for i in range(0, n_symbols, 30)]

    m = SimMarket(7, n_symbols, DAY)
    t0 = time.perf_counter()
    m.warm(start)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in seconds:
        for batch in batches(m):
            m.quote_many(batch, s)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in seconds:
        fresh = SimMarket(7, n_symbols, DAY)
        for sym in fresh.symbols:
            fresh.quote(sym, s)
    naive = time.perf_counter() - t0
    n = n_symbols * cycles
    print(f"market model: {n_symbols} symbols x {cycles} cycles every {cycle_s} market s")
    print(f"  naive (each quote from 08:30): {naive / n * 1e6:8.0f} us/quote")
    print(
        f"  ours  (cursors, 30 per pass):  {ours / n * 1e6:8.0f} us/quote"
        f"  ({naive / ours:.1f}x faster)"
    )
    print(f"  warm-up 08:30 -> 09:30:        {warm / n_symbols * 1e3:8.2f} ms/symbol")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def _load(
    creds: dict[str, str], codes: list[str], rate: float, seconds: float, ws_on: bool
) -> dict[str, int]:
    stats = {"rest_ok": 0, "rest_err": 0, "ws_frames": 0}
    async with httpx.AsyncClient(base_url=creds["rest_url"], timeout=10) as client:
        r = await client.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": creds["KIS_APP_KEY"],
                "appsecret": creds["KIS_APP_SECRET"],
            },
        )
        tok = r.json()["access_token"]
        r = await client.post(
            "/oauth2/Approval",
            json={
                "grant_type": "client_credentials",
                "appkey": creds["KIS_APP_KEY"],
                "secretkey": creds["KIS_APP_SECRET"],
            },
        )
        akey = r.json()["approval_key"]
        hdr = {
            "authorization": f"Bearer {tok}",
            "appkey": creds["KIS_APP_KEY"],
            "appsecret": creds["KIS_APP_SECRET"],
            "tr_id": "FHKST11300006",
        }

        async def one(i: int) -> None:
            params = {}
            for k in range(30):
                params[f"FID_COND_MRKT_DIV_CODE_{k + 1}"] = "J"
                params[f"FID_INPUT_ISCD_{k + 1}"] = codes[(i * 30 + k) % len(codes)]
            resp = await client.get(f"{QUOTES}/intstock-multprice", params=params, headers=hdr)
            stats["rest_ok" if resp.status_code == 200 else "rest_err"] += 1

        async def rest() -> None:
            # open loop: one request every 1/rate s, whatever the latency (at most 8 in flight)
            limiter = anyio.CapacityLimiter(8)
            t_next = time.monotonic()
            async with anyio.create_task_group() as tg:
                for i in range(int(seconds * rate) + 1):

                    async def guarded(i: int = i) -> None:
                        async with limiter:
                            await one(i)

                    tg.start_soon(guarded)
                    t_next += 1 / rate
                    await anyio.sleep(max(0.0, t_next - time.monotonic()))

        async def ws() -> None:
            async with websockets.connect(creds["ws_url"], max_size=None) as conn:
                for code in codes[:20]:
                    for tr in ("H0STCNT0", "H0STASP0"):
                        header = {"approval_key": akey, "custtype": "P", "tr_type": "1"}
                        body = {"input": {"tr_id": tr, "tr_key": code}}
                        await conn.send(json.dumps({"header": header, "body": body}))
                async for msg in conn:
                    if msg[0] in "01":
                        stats["ws_frames"] += 1
                    elif '"PINGPONG"' in msg:
                        await conn.send(msg)

        with anyio.move_on_after(seconds):
            async with anyio.create_task_group() as tg:
                if rate > 0:
                    tg.start_soon(rest)
                if ws_on:
                    tg.start_soon(ws)
                tg.start_soon(anyio.sleep, seconds + 1)
    return stats


def bench_server(n_symbols: int, seconds: float, rate: float) -> None:
    print(
        f"server load: {n_symbols} symbols, {rate:g} multi-price req/s x 30 symbols, "
        f"40 WS registrations, {seconds:g} s per step (subprocess CPU, share of one core)"
    )
    for label, speed, load in (("idle", 20.0, False), ("1x", 1.0, True), ("20x", 20.0, True)):
        with tempfile.TemporaryDirectory() as tmp:
            cred_path = Path(tmp) / "creds.json"
            argv = [
                sys.executable, "-c", "from observer.cli import main; main()", "simulate",
                "--symbols", str(n_symbols), "--day", DAY.isoformat(), "--start", "09:30",
                "--speed", str(speed), "--rate", "1000", "--credentials-file", str(cred_path),
                "--duration", str(seconds + 60),
            ]  # fmt: skip
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 60
                while not cred_path.exists() or cred_path.stat().st_size == 0:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("simulator did not start")
                    time.sleep(0.05)
                creds = json.loads(cred_path.read_text())
                status_url = creds["rest_url"] + "/sim/admin/status"
                while not httpx.get(status_url).json()["warm_up_done"]:
                    if time.monotonic() > deadline:
                        raise RuntimeError("simulator warm-up did not finish")
                    time.sleep(0.1)
                codes = [
                    row["code"] for row in httpx.get(creds["rest_url"] + "/sim/v1/master").json()
                ]
                cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
                stats = anyio.run(_load, creds, codes, rate if load else 0.0, seconds, load)
                cpu = _cpu_seconds(proc.pid) - cpu0
                wall = time.monotonic() - t0
            finally:
                proc.terminate()
                proc.wait(10)
        print(f"  {label:>4}: cpu {cpu / wall * 100:5.1f} % of a core   {stats}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--full", action="store_true", help="2,500 symbols, 30 s per load step")
    ap.add_argument("--rate", type=float, default=20.0)
    args = ap.parse_args()
    n = 2500 if args.full else 1000
    bench_model(n if args.full else 500, cycles=5, cycle_s=150)
    bench_server(n, 30.0 if args.full else 12.0, args.rate)


if __name__ == "__main__":
    main()
