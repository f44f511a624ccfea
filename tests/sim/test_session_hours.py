"""A simulated day with other hours (a CSAT day, 10:00-16:30) over the simulator's wire."""

from __future__ import annotations

import datetime as dt

import pytest
import websockets

from observer.sim import CNT_FIELDS
from tests.sim.helpers import (
    DAY,
    approval,
    asking_price,
    data_frames,
    records,
    running,
    subscribe,
    token,
)

pytestmark = pytest.mark.anyio

CSAT = {DAY: (dt.time(10, 0), dt.time(16, 30))}


@pytest.mark.parametrize(("hours", "trading"), [(CSAT, True), ({}, False)])
async def test_at_four_pm_a_csat_day_still_trades(
    hours: dict[dt.date, tuple[dt.time, dt.time]], trading: bool
) -> None:
    """At 16:00 a CSAT day is in continuous trading: the orderbook is stamped 16:00 and the
    socket sends trades stamped then; the usual day has closed (no trades after 15:30)."""
    async with running(start_time=dt.time(16, 0), session_hours=hours) as (sim, client):
        tok = await token(sim, client)
        o1 = (await asking_price(sim, client, tok)).json()["output1"]
        stamped = [o1["aspr_acpt_hour"][:2], o1["new_mkop_cls_code"]]
        times: list[str] = []
        if trading:
            key = await approval(sim, client)
            async with websockets.connect(sim.ws_url) as ws:
                await subscribe(ws, key, "H0STCNT0", "005930")
                frames = await data_frames(ws, 3, tr_id="H0STCNT0")
            times = sorted({rec[1][:2] for f in frames for rec in records(f, CNT_FIELDS)})
    expected = (["16", "20"], ["16"]) if trading else (["15", "30"], [])
    assert expected == (stamped, times)
