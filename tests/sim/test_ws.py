"""The simulator's WebSocket protocol: acks, limits, sessions, frames and PINGPONG."""

from __future__ import annotations

import json

import anyio
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from observer.sim import ASP_FIELDS, CNT_FIELDS
from tests.sim.helpers import (
    approval,
    data_frames,
    next_control,
    records,
    running,
    sub_msg,
    subscribe,
)

pytestmark = pytest.mark.anyio


async def test_subscribe_ack_is_opsp0000_with_cipher_output() -> None:
    """A registration is acknowledged OPSP0000 with a 16-char iv and a 32-char key."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            ack = await subscribe(ws, key, "H0STCNT0", "005930")
        out = ack["body"]["output"]
        assert ("0", "OPSP0000", "SUBSCRIBE SUCCESS", 16, 32, "005930") == (
            ack["body"]["rt_cd"], ack["body"]["msg_cd"], ack["body"]["msg1"],
            len(out["iv"]), len(out["key"]), ack["header"]["tr_key"],
        )  # fmt: skip


async def test_any_path_is_accepted() -> None:
    """The socket answers on the bare host too, not only /tryitout."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.rest_url.replace("http", "ws")) as ws:
            ack = await subscribe(ws, key, "H0STASP0", "005930")
        assert "OPSP0000" == ack["body"]["msg_cd"]


async def test_duplicate_subscribe_is_opsp0002() -> None:
    """Registering the same (tr_id, tr_key) twice answers OPSP0002."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            ack = await subscribe(ws, key, "H0STCNT0", "005930")
        assert ("1", "OPSP0002", "ALREADY IN SUBSCRIBE") == (
            ack["body"]["rt_cd"], ack["body"]["msg_cd"], ack["body"]["msg1"],
        )  # fmt: skip


async def test_unsubscribe_is_opsp0001() -> None:
    """Releasing a registration answers OPSP0001 UNSUBSCRIBE SUCCESS."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            ack = await subscribe(ws, key, "H0STCNT0", "005930", tr_type="2")
        assert ("OPSP0001", True) == (
            ack["body"]["msg_cd"],
            ack["body"]["msg1"].startswith("UNSUB"),
        )


async def test_unsubscribe_unknown_is_opsp0003() -> None:
    """Releasing something not registered answers OPSP0003."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            ack = await subscribe(ws, key, "H0STASP0", "000660", tr_type="2")
        assert ("1", "OPSP0003") == (ack["body"]["rt_cd"], ack["body"]["msg_cd"])


async def test_42nd_registration_is_opsp0008() -> None:
    """41 registrations succeed; the 42nd answers OPSP0008 MAX SUBSCRIBE OVER."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        codes = [s.code for s in sim.market.symbols[:21]]
        pairs = [(tr, c) for c in codes for tr in ("H0STCNT0", "H0STASP0")][:42]
        async with websockets.connect(sim.ws_url) as ws:
            results = [(await subscribe(ws, key, tr, c))["body"]["msg_cd"] for tr, c in pairs]
        assert ["OPSP0000"] * 41 + ["OPSP0008"] == results


async def test_invalid_approval_key_is_refused() -> None:
    """An unknown approval key gets the configured invalid-approval ack."""
    async with running() as (sim, _client):
        async with websockets.connect(sim.ws_url) as ws:
            ack = await subscribe(ws, "00000000-0000-0000-0000-000000000000", "H0STCNT0", "005930")
        assert ("1", sim.config.invalid_approval_msg_cd) == (
            ack["body"]["rt_cd"],
            ack["body"]["msg_cd"],
        )


async def test_second_session_same_app_key_is_opsp8996_and_closed() -> None:
    """A second session of the same app key gets OPSP8996 with tr_id (null), then is closed."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as first:
            await subscribe(first, key, "H0STCNT0", "005930")
            async with websockets.connect(sim.ws_url) as second:
                await second.send(sub_msg(key, "H0STCNT0", "000660"))
                with anyio.fail_after(5):
                    ack = json.loads(await second.recv())
                    with pytest.raises(ConnectionClosed):
                        await second.recv()
        assert ("(null)", "OPSP8996") == (ack["header"]["tr_id"], ack["body"]["msg_cd"])


async def test_session_can_be_reopened_after_close() -> None:
    """After the first session closes, a new one for the same app key is accepted."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as first:
            await subscribe(first, key, "H0STCNT0", "005930")
        with anyio.fail_after(5):
            while sim.hub.sessions:  # noqa: ASYNC110 - no public event for a closed session
                await anyio.sleep(0.01)
        async with websockets.connect(sim.ws_url) as second:
            ack = await subscribe(second, key, "H0STCNT0", "005930")
        assert "OPSP0000" == ack["body"]["msg_cd"]


async def test_trade_frames_have_46_fields_per_record() -> None:
    """H0STCNT0 frames split into records of exactly 46 fields."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            frames = await data_frames(ws, 5, tr_id="H0STCNT0")
        widths = {len(r) for f in frames for r in records(f, CNT_FIELDS)}
        assert {CNT_FIELDS} == widths


async def test_orderbook_frames_have_59_fields() -> None:
    """H0STASP0 frames carry one record of 59 fields."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STASP0", "005930")
            frames = await data_frames(ws, 3, tr_id="H0STASP0")
        assert [[ASP_FIELDS]] * 3 == [[len(r) for r in records(f, ASP_FIELDS)] for f in frames]


async def test_several_trades_can_share_one_frame() -> None:
    """With batching always on, a push of several trades is one frame with NNN > 1."""
    async with running(batch_probability=1.0, speed=50.0) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            frames = await data_frames(ws, 20, tr_id="H0STCNT0")
        assert any(int(f.split("|")[2]) > 1 for f in frames)


async def test_added_trailing_fields_are_sent() -> None:
    """extra_trailing_fields widens every record (field-count drift)."""
    async with running(extra_trailing_fields=2) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "005930")
            frame = (await data_frames(ws, 1, tr_id="H0STCNT0"))[0]
        assert {CNT_FIELDS + 2} == {len(r) for r in records(frame, CNT_FIELDS + 2)}


async def test_frames_carry_the_subscribed_code() -> None:
    """Only the subscribed symbol's records arrive."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STCNT0", "000660")
            frames = await data_frames(ws, 3, tr_id="H0STCNT0")
        assert {"000660"} == {r[0] for f in frames for r in records(f, CNT_FIELDS)}


async def test_pingpong_is_sent_and_an_echoing_client_stays() -> None:
    """The server sends PINGPONG; a client that echoes it keeps its session."""
    async with running(ping_interval_s=0.1, pong_timeout_s=0.5) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await subscribe(ws, key, "H0STASP0", "005930")
            pings = 0
            with anyio.fail_after(10):
                while pings < 8:
                    msg = await ws.recv()
                    if '"PINGPONG"' in msg:
                        pings += 1
                        await ws.send(msg)
            assert (8, []) == (pings, [e for e in sim.truth.events if e.kind == "pong_timeout"])


async def test_client_that_ignores_pingpong_is_dropped() -> None:
    """A client that never echoes PINGPONG is disconnected after the pong timeout."""
    async with running(ping_interval_s=0.1, pong_timeout_s=0.3) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await ws.send(sub_msg(key, "H0STASP0", "005930"))
            with anyio.fail_after(10), pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
        assert ["pong_timeout"] == [e.kind for e in sim.truth.events if e.kind == "pong_timeout"]


async def test_pingpong_header_carries_kst_datetime() -> None:
    """PINGPONG carries datetime YYYYMMDDHHMMSS of the market clock."""
    async with running(ping_interval_s=0.05, pong_timeout_s=1.0, speed=1.0) as (sim, _client):
        async with websockets.connect(sim.ws_url) as ws:
            with anyio.fail_after(5):
                msg = json.loads(await ws.recv())
        assert ("PINGPONG", "2026112410") == (
            msg["header"]["tr_id"],
            msg["header"]["datetime"][:10],
        )


async def test_bad_json_gets_an_error_ack_not_a_crash() -> None:
    """An unparsable message is answered with an error ack and the session stays."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            await ws.send("{not json")
            bad = await next_control(ws)
            ack = await subscribe(ws, key, "H0STCNT0", "005930")
        assert ("1", "OPSP0000") == (bad["body"]["rt_cd"], ack["body"]["msg_cd"])
