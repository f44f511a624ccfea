"""Shared helpers for the simulator tests: a plain httpx/websockets client written here, so the
tests depend on nothing but the wire."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msgspec
from websockets.asyncio.client import ClientConnection

from observer.sim import SimConfig, Simulator, serve_simulator

DAY = dt.date(2026, 11, 24)
QUOTES = "/uapi/domestic-stock/v1/quotations"


def config(**overrides: Any) -> SimConfig:
    """A small, fast simulator: 100 symbols, no token throttle, 20x speed, a fixed day, no
    warm-up."""
    base: dict[str, Any] = {
        "seed": 7,
        "n_symbols": 100,
        "trading_day": DAY,
        "start_time": dt.time(10, 0),
        "speed": 20.0,
        "token_issue_interval_s": 0.0,
        "ping_interval_s": 0.0,
        "publish_interval_s": 0.02,
        # computed on demand: most tests ask about a few symbols (tests/sim/test_startup.py
        # covers the warm-up)
        "warm_up": False,
    }
    base.update(overrides)
    return msgspec.convert(base, SimConfig)


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    async with (
        serve_simulator(config(**overrides)) as sim,
        httpx.AsyncClient(base_url=sim.rest_url, timeout=10) as client,
    ):
        yield sim, client


async def token(sim: Simulator, client: httpx.AsyncClient) -> str:
    r = await client.post(
        "/oauth2/tokenP",
        json={
            "grant_type": "client_credentials",
            "appkey": sim.app_key,
            "appsecret": sim.app_secret,
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def approval(sim: Simulator, client: httpx.AsyncClient) -> str:
    r = await client.post(
        "/oauth2/Approval",
        json={
            "grant_type": "client_credentials",
            "appkey": sim.app_key,
            "secretkey": sim.app_secret,
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["approval_key"])


def headers(sim: Simulator, tok: str, tr_id: str) -> dict[str, str]:
    return {
        "content-type": "application/json; charset=utf-8",
        "authorization": f"Bearer {tok}",
        "appkey": sim.app_key,
        "appsecret": sim.app_secret,
        "tr_id": tr_id,
        "custtype": "P",
    }


async def price(
    sim: Simulator, client: httpx.AsyncClient, tok: str, code: str = "005930"
) -> httpx.Response:
    return await client.get(
        f"{QUOTES}/inquire-price",
        params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code},
        headers=headers(sim, tok, "FHKST01010100"),
    )


async def asking_price(
    sim: Simulator, client: httpx.AsyncClient, tok: str, code: str = "005930"
) -> httpx.Response:
    return await client.get(
        f"{QUOTES}/inquire-asking-price-exp-ccn",
        params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code},
        headers=headers(sim, tok, "FHKST01010200"),
    )


def sub_msg(approval_key: str, tr_id: str, tr_key: str, tr_type: str = "1") -> str:
    return json.dumps(
        {
            "header": {
                "approval_key": approval_key,
                "custtype": "P",
                "tr_type": tr_type,
                "content-type": "utf-8",
            },
            "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}},
        }
    )


async def next_control(ws: ClientConnection, *, echo_ping: bool = True) -> dict[str, Any]:
    """The next JSON control message (acks), skipping data frames; PINGPONG is echoed."""
    while True:
        msg = await ws.recv()
        assert isinstance(msg, str)
        if msg[0] in "01":
            continue
        data: dict[str, Any] = json.loads(msg)
        if data["header"]["tr_id"] == "PINGPONG":
            if echo_ping:
                await ws.send(msg)
            continue
        return data


async def subscribe(
    ws: ClientConnection, approval_key: str, tr_id: str, tr_key: str, tr_type: str = "1"
) -> dict[str, Any]:
    await ws.send(sub_msg(approval_key, tr_id, tr_key, tr_type))
    return await next_control(ws)


async def data_frames(ws: ClientConnection, n: int, *, tr_id: str | None = None) -> list[str]:
    """The next ``n`` data frames (of ``tr_id`` if given; PINGPONG echoed, acks skipped);
    fails after 10 s."""
    out: list[str] = []
    with anyio.fail_after(10):
        while len(out) < n:
            msg = await ws.recv()
            assert isinstance(msg, str)
            if msg[0] in "01":
                if tr_id is None or msg.split("|", 2)[1] == tr_id:
                    out.append(msg)
            elif '"PINGPONG"' in msg:
                await ws.send(msg)
    return out


def records(frame: str, width: int) -> list[list[str]]:
    """Split a data frame into records of ``width`` fields."""
    _enc, _tr, count, payload = frame.split("|", 3)
    values = payload.split("^")
    n = int(count)
    assert len(values) == n * width, (len(values), n, width)
    return [values[i * width : (i + 1) * width] for i in range(n)]
