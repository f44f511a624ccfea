"""REST client benchmark: requests/s of ``KisRestClient`` against the embedded simulator.

The simulator runs as ``observer simulate`` in a subprocess on loopback with its rate limit
off, and our limiter is off too (``rest_rate_per_s=0``). Same run, same server, same
concurrency, three ways:

- baseline: a bare ``httpx.AsyncClient`` GET with the KIS headers, nothing else;
- ours:     ``KisRestClient.inquire_price`` (token, limiter hook, classification by msg_cd,
            stamina retry context, ``RestResult`` with the decoded envelope);
- ours+convert: the same plus ``convert_rest_result`` to an ``ObservationSnapshot``.

Wall requests/s share the simulator's cost (on the same 2 cores); the client's own cost is
this process's CPU time per request, and 1 / that is the rate at which the client alone
would saturate one core — to compare with KIS's 20 requests/s.

    python bench/bench_rest_client.py            # 1,000 requests per way (under a minute)
    python bench/bench_rest_client.py --full     # 20,000 requests per way
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import msgspec

from observer.kis import KisConfig, KisRestClient, Secret, SnapshotContext, convert_rest_result
from pipeline import Environment, Mode


async def drive(
    call: Callable[[str], Awaitable[object]], codes: list[str], n: int, concurrency: int
) -> float:
    """Seconds for ``n`` calls spread over ``concurrency`` workers."""
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await call(codes[i % len(codes)])

    start, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return time.perf_counter() - start, time.process_time() - cpu


class Sim:
    """``observer simulate`` in a subprocess; its URLs and credentials from the 0600 file."""

    def __init__(self, workdir: Path) -> None:
        self.creds = workdir / "sim.json"
        self.proc = subprocess.Popen(
            [
                sys.executable, "-c", "from observer.cli import main; main()", "simulate",
                "--symbols", "200", "--rate", "0", "--duration", "600",
                "--credentials-file", str(self.creds),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def ready(self) -> dict[str, str]:
        with anyio.fail_after(60):
            while not (self.creds.exists() and self.creds.stat().st_size > 0):
                if self.proc.poll() is not None:
                    raise SystemExit("observer simulate exited early")
                await anyio.sleep(0.1)  # a subprocess: nothing to await but its file
        data: dict[str, str] = json.loads(self.creds.read_text())
        return data

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def main_async(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = Sim(Path(tmp))
        try:
            info = await sim.ready()
            rows = await measure(info, n, concurrency)
        finally:
            sim.stop()
    base = rows[0][1]
    print(f"requests per way: {n:,}, concurrency {concurrency}, limiter off (ours and simulator)")
    print(
        f"{'way':<16}{'wall req/s':>11}{'vs base':>9}{'client CPU/req':>16}"
        f"{'client-bound req/s':>20}{'vs 20/s':>9}"
    )
    for name, rate, cpu_us in rows:
        alone = 1e6 / cpu_us
        print(
            f"{name:<16}{rate:>11,.0f}{rate / base:>9.2f}{cpu_us:>13,.0f} us"
            f"{alone:>20,.0f}{alone / 20:>8,.0f}x"
        )


async def measure(info: dict[str, str], n: int, concurrency: int) -> list[tuple[str, float, float]]:
    config = msgspec.structs.replace(
        KisConfig(environment=Environment.SIM, app_key=Secret(""), app_secret=Secret("")),
        token_cache_dir=None,
        rest_rate_per_s=0.0,
    ).bind_simulator(
        rest_url=info["rest_url"],
        ws_url=info["ws_url"],
        app_key=info["KIS_APP_KEY"],
        app_secret=info["KIS_APP_SECRET"],
    )
    rows: list[tuple[str, float, float]] = []
    async with KisRestClient(config) as client, httpx.AsyncClient(base_url=config.rest_url) as bare:
        master = (await bare.get("/sim/v1/master")).json()
        codes = [row["code"] for row in master]
        token = await client.auth.access_token()
        headers = {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {token.reveal()}",
            "appkey": config.app_key.reveal(),
            "appsecret": config.app_secret.reveal(),
            "tr_id": "FHKST01010100",
            "custtype": "P",
        }

        async def baseline(code: str) -> object:
            response = await bare.get(
                "/uapi/domestic-stock/v1/quotations/inquire-price",
                params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code},
                headers=headers,
            )
            return response.json()

        async def ours(code: str) -> object:
            return await client.inquire_price(code)

        first = await client.inquire_price(codes[0])
        ctx = SnapshotContext(
            mode=Mode.SWING,
            environment=Environment.SIM,
            trading_day=first.received_at.date(),
            receive_time=first.received_at,
        )

        async def ours_convert(code: str) -> object:
            outcome = convert_rest_result(await client.inquire_price(code), ctx)
            if outcome.rejections:
                raise SystemExit(f"conversion rejected: {outcome.rejections}")
            return outcome

        await drive(baseline, codes, 50, concurrency)  # warm up connections
        await drive(ours, codes, 50, concurrency)
        ways = (("baseline httpx", baseline), ("ours", ours), ("ours+convert", ours_convert))
        for name, call in ways:
            wall, cpu = await drive(call, codes, n, concurrency)
            rows.append((name, n / wall, cpu / n * 1e6))
        if client.rate_limited or client.retries:
            raise SystemExit(
                f"unexpected retries {client.retries}, rate limited {client.rate_limited}"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="20,000 requests per way")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    n = args.requests or (20_000 if args.full else 1_000)
    anyio.run(main_async, n, args.concurrency)


if __name__ == "__main__":
    main()
