"""The ground-truth log agrees with what a client actually received."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import websockets

from observer.sim import CNT_FIELDS
from tests.sim.helpers import approval, data_frames, price, records, running, subscribe, token

pytestmark = pytest.mark.anyio


async def test_served_trades_equal_received_trades() -> None:
    """Every H0STCNT0 record received is in the truth log for that connection, in order."""
    async with running(speed=40.0) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            frames = await data_frames(ws, 30, tr_id="H0STCNT0")
            session = next(iter(sim.hub.sessions))
        received = [
            (r[0], r[1], int(r[2]), int(r[12])) for f in frames for r in records(f, CNT_FIELDS)
        ]
        served = [
            (s.symbol, s.exchange_time.strftime("%H%M%S"), s.price, s.volume)
            for s in sim.truth.served(channel="H0STCNT0", connection=session)
        ]
        assert received == served[: len(received)]


async def test_rest_rows_are_booked_with_their_request_number() -> None:
    """Each REST answer books its row; counts are exact."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        for _ in range(3):
            await price(sim, client, tok)
        assert (3, [1, 2, 3]) == (
            sim.truth.count(symbol="005930", channel="FHKST01010100"),
            [r.connection for r in sim.truth.served(channel="FHKST01010100")],
        )


async def test_rejected_requests_are_not_served() -> None:
    """A rate-limited request books no row."""
    async with running(rest_rate_per_s=1, rate_window_s=3600.0) as (sim, client):
        tok = await token(sim, client)
        await price(sim, client, tok)
        await price(sim, client, tok)
        assert (1, 1) == (
            sim.truth.count(channel="FHKST01010100"),
            sim.truth.suppressed["rest_rate_limited"],
        )


async def test_faults_are_booked_with_market_time() -> None:
    """A fault record carries the market time it fired at."""
    async with running(speed=1.0) as (sim, _client):
        rec = sim.faults.http_5xx(1)
        assert (dt.date(2026, 11, 24), 10) == (rec.at.date(), rec.at.hour)


async def test_truth_is_also_written_as_jsonl(tmp_path: Path) -> None:
    """With truth_jsonl set, served rows and faults are JSON lines."""
    path = tmp_path / "truth.jsonl"
    async with running(truth_jsonl=str(path)) as (sim, client):
        tok = await token(sim, client)
        sim.faults.latency(1, count=1)
        await price(sim, client, tok)
    kinds = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert ["fault", "served"] == kinds


async def test_memory_is_bounded_but_counts_stay_exact() -> None:
    """Past max records only counts go on, and the log says it is truncated."""
    async with running(truth_max_records=2) as (sim, client):
        tok = await token(sim, client)
        for _ in range(4):
            await price(sim, client, tok)
        assert (2, 4, True) == (len(sim.truth.served()), sim.truth.count(), sim.truth.truncated)
