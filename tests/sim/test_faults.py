"""Every fault kind, injected through the API or the admin endpoint, over real sockets."""

from __future__ import annotations

import datetime as dt
import time

import anyio
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from observer.sim import CNT_FIELDS, FaultKind, FaultSpec
from tests.sim.helpers import approval, data_frames, price, running, subscribe, token

pytestmark = pytest.mark.anyio


async def _recv_until_closed(ws: websockets.ClientConnection) -> ConnectionClosed:
    with anyio.fail_after(10):
        while True:
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                return exc


async def test_disconnect_closes_the_session() -> None:
    """disconnect closes every session with a close frame and books the fault."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            sim.faults.disconnect()
            exc = await _recv_until_closed(ws)
        assert (1011, ["disconnect"]) == (
            exc.rcvd.code if exc.rcvd else None,
            [f.kind for f in sim.truth.faults],
        )


async def test_abrupt_disconnect_sends_no_close_frame() -> None:
    """An abrupt disconnect drops TCP with no close frame."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            sim.faults.disconnect(abrupt=True)
            exc = await _recv_until_closed(ws)
        assert (True, None) == (isinstance(exc, ConnectionClosedError), exc.rcvd)


async def test_disconnect_of_one_session_leaves_others() -> None:
    """disconnect(session=id) closes only that session."""
    async with running() as (sim, client):
        sim.auth.add_credentials("PS" + "b" * 34, "s" * 180)
        key_a = await approval(sim, client)
        r = await client.post(
            "/oauth2/Approval",
            json={
                "grant_type": "client_credentials",
                "appkey": "PS" + "b" * 34,
                "secretkey": "s" * 180,
            },
        )
        key_b = r.json()["approval_key"]
        async with websockets.connect(sim.ws_url) as a, websockets.connect(sim.ws_url) as b:
            await subscribe(a, key_a, "H0STCNT0", "005930")
            await subscribe(b, key_b, "H0STCNT0", "005930")
            first = min(sim.hub.sessions)
            sim.faults.disconnect(session=first)
            await _recv_until_closed(a)
            frames = await data_frames(b, 2, tr_id="H0STCNT0")
        assert 2 == len(frames)


async def _drain(ws: websockets.ClientConnection, seconds: float) -> int:
    """Read for ``seconds``; the number of data frames received."""
    n = 0
    with anyio.move_on_after(seconds):
        while True:
            if (await ws.recv())[0] in "01":
                n += 1
    return n


async def test_silence_sends_nothing_then_resumes() -> None:
    """During silence nothing is served (frames are booked suppressed); afterwards frames flow."""
    async with running(speed=20.0) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            await data_frames(ws, 1)
            sim.faults.silence(40.0)  # 40 market seconds = 2 wall seconds at 20x
            await _drain(ws, 0.3)  # frames already on the wire before the fault
            served_before = sim.truth.count(channel="H0STCNT0")
            received = await _drain(ws, 0.8)
            served_after = sim.truth.count(channel="H0STCNT0")
            suppressed = sum(v for k, v in sim.truth.suppressed.items() if k.startswith("silenced"))
            resumed = await data_frames(ws, 1, tr_id="H0STCNT0")
        assert (0, served_before, True, 1) == (received, served_after, suppressed > 0, len(resumed))


async def test_malformed_frame_is_sent_once() -> None:
    """malformed_frames(1) sends one frame that is not valid KIS data, then normal frames."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            sim.faults.malformed_frames(1)
            frames = await data_frames(ws, 4, tr_id="H0STCNT0")
        bad = [f for f in frames if not f.split("|")[2].isdigit()]
        assert 1 == len(bad)


async def test_short_frame_record_is_flagged_in_truth() -> None:
    """short_frames(1) cuts one record short and the truth log flags it 'short'."""
    async with running(batch_probability=0.0) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            sim.faults.short_frames(1)
            # frames already on the wire when the fault was armed arrive first, intact
            frames = await data_frames(ws, 4, tr_id="H0STCNT0")
        widths = [len(f.split("|", 3)[3].split("^")) for f in frames]
        short = [w for w in widths if w != CNT_FIELDS]
        flags = [r.flag for r in sim.truth.served(channel="H0STCNT0") if r.flag]
        assert ([CNT_FIELDS // 2], ["short"]) == (short, flags)


async def test_long_frame_records_carry_extra_fields() -> None:
    """long_frames adds trailing fields to every record of one frame, flagged 'long'."""
    async with running(batch_probability=0.0) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            sim.faults.long_frames(1, extra_fields=4)
            # frames already on the wire when the fault was armed arrive first, intact
            frames = await data_frames(ws, 4, tr_id="H0STCNT0")
        widths = [len(f.split("|", 3)[3].split("^")) for f in frames]
        long = [w for w in widths if w != CNT_FIELDS]
        flags = {r.flag for r in sim.truth.served(channel="H0STCNT0") if r.flag}
        assert ([CNT_FIELDS + 4], {"long"}) == (long, flags)


async def test_http_5xx_for_n_requests_then_ok() -> None:
    """http_5xx(2, 503) answers two requests 503 with a non-JSON body, then serves again."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        sim.faults.http_5xx(2, status=503)
        statuses = [(await price(sim, client, tok)).status_code for _ in range(3)]
        assert [503, 503, 200] == statuses


async def test_latency_delays_rest_answers() -> None:
    """latency(ms, count=1) delays the next answer by at least that long."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        sim.faults.latency(300, count=1)
        t0 = time.monotonic()
        await price(sim, client, tok)
        assert (time.monotonic() - t0) >= 0.3


async def test_revoke_tokens_makes_calls_fail_egw00121() -> None:
    """revoke_tokens invalidates every token: EGW00121."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        sim.faults.revoke_tokens()
        r = await price(sim, client, tok)
        assert "EGW00121" == r.json()["msg_cd"]


async def test_revoked_token_is_replaced_by_a_new_one() -> None:
    """After revocation tokenP issues a different, working token."""
    async with running() as (sim, client):
        old = await token(sim, client)
        sim.faults.revoke_tokens()
        new = await token(sim, client)
        assert (True, 200) == (new != old, (await price(sim, client, new)).status_code)


async def test_expire_tokens_makes_calls_fail_egw00123() -> None:
    """expire_tokens ends every token's life now: EGW00123."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        sim.faults.expire_tokens()
        r = await price(sim, client, tok)
        assert "EGW00123" == r.json()["msg_cd"]


async def test_rate_limit_burst_rejects_then_recovers() -> None:
    """During a rate-limit burst every call is EGW00201; after it calls pass."""
    async with running(speed=20.0) as (sim, client):
        tok = await token(sim, client)
        sim.faults.rate_limit_burst(6.0)  # 0.3 wall s at 20x
        during = (await price(sim, client, tok)).json()["msg_cd"]
        await anyio.sleep(0.4)
        after = (await price(sim, client, tok)).status_code
        assert ("EGW00201", 200) == (during, after)


async def test_drop_pong_gets_an_echoing_client_dropped() -> None:
    """While echoes are ignored, even a well-behaved client is dropped for not answering."""
    async with running(ping_interval_s=0.1, pong_timeout_s=0.3) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STASP0", "005930")
            sim.faults.drop_pong(200.0)
            with anyio.fail_after(10), pytest.raises(ConnectionClosed):
                while True:
                    msg = await ws.recv()
                    if '"PINGPONG"' in msg:
                        await ws.send(msg)
        assert ["pong_timeout"] == [e.kind for e in sim.truth.events if e.kind == "pong_timeout"]


async def test_admin_endpoint_injects_a_fault() -> None:
    """POST /sim/admin/faults fires the fault and it shows in the truth summary."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        r = await client.post(
            "/sim/admin/faults", json={"kind": "http_5xx", "count": 1, "status": 500}
        )
        status = (await price(sim, client, tok)).status_code
        summary = (await client.get("/sim/admin/truth/summary")).json()
        assert (200, 500, ["http_5xx"]) == (
            r.status_code,
            status,
            [f["kind"] for f in summary["faults"]],
        )


async def test_admin_endpoint_rejects_an_unknown_fault_kind() -> None:
    """An unknown fault kind is a 400 with a reason, not a crash."""
    async with running() as (_sim, client):
        r = await client.post("/sim/admin/faults", json={"kind": "meteor"})
        assert 400 == r.status_code


async def test_scheduled_fault_fires_at_its_market_time() -> None:
    """A fault with ``at`` fires when the market clock reaches it, and is booked with that time."""
    async with running(speed=20.0) as (sim, _client):
        sim.faults.inject(msgspec_fault(kind=FaultKind.REVOKE_TOKENS, at=dt.time(10, 0, 10)))
        with anyio.fail_after(10):
            while not sim.truth.faults:  # noqa: ASYNC110 - the market clock is the event
                await anyio.sleep(0.05)
        fired = sim.truth.faults[0].at.time()
        assert dt.time(10, 0, 10) <= fired < dt.time(10, 0, 20)


def msgspec_fault(**kw: object) -> FaultSpec:
    return FaultSpec(**kw)  # type: ignore[arg-type]


async def test_config_faults_fire_without_a_call() -> None:
    """Faults in SimConfig.faults are armed when the simulator starts."""
    async with running(faults=[{"kind": "http_5xx", "count": 1}]) as (sim, client):
        tok = await token(sim, client)
        assert 502 == (await price(sim, client, tok)).status_code
