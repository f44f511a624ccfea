"""KIS REST endpoints of the simulator, over a real loopback socket."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from observer.sim import SimClock, SimConfig
from observer.sim._auth import AuthState
from pipeline import KST
from tests.sim.helpers import QUOTES, approval, asking_price, headers, price, running, token

pytestmark = pytest.mark.anyio


async def test_token_response_has_the_kis_fields() -> None:
    """tokenP answers access_token, Bearer, expires_in and a KST expiry string."""
    async with running(token_lifetime_s=86_400) as (sim, client):
        r = await client.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": sim.app_key,
                "appsecret": sim.app_secret,
            },
        )
        body = r.json()
        assert sorted(body) == [
            "access_token",
            "access_token_token_expired",
            "expires_in",
            "token_type",
        ]
        assert (body["token_type"], body["expires_in"]) == ("Bearer", 86_400)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["access_token_token_expired"])


async def test_token_expiry_string_is_kst_lifetime_after_issue() -> None:
    """The expiry string is the sim's KST time plus the lifetime."""
    async with running(token_lifetime_s=3600, speed=1.0) as (sim, client):
        r = await client.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": sim.app_key,
                "appsecret": sim.app_secret,
            },
        )
        expired = dt.datetime.strptime(r.json()["access_token_token_expired"], "%Y-%m-%d %H:%M:%S")
        assert dt.datetime(2026, 11, 24, 11, 0) == expired.replace(second=0)


async def test_token_repeated_within_reuse_window_is_the_same() -> None:
    """A second tokenP inside the reuse window returns the same token."""
    async with running() as (sim, client):
        assert await token(sim, client) == await token(sim, client)


async def test_token_issued_again_after_reuse_window_is_new() -> None:
    """Past the reuse window a new token is issued."""
    async with running(token_reuse_s=0) as (sim, client):
        assert await token(sim, client) != await token(sim, client)


async def test_token_second_call_within_a_minute_is_throttled() -> None:
    """A second tokenP inside the issuance interval is 403 EGW00133 with error_code body."""
    async with running(token_issue_interval_s=60.0) as (sim, client):
        await token(sim, client)
        r = await client.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": sim.app_key,
                "appsecret": sim.app_secret,
            },
        )
        assert (r.status_code, r.json()["error_code"]) == (403, "EGW00133")


async def test_token_with_unknown_app_key_is_egw00103() -> None:
    """An unknown app key gets 403 EGW00103."""
    async with running() as (sim, client):
        r = await client.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": "PS" + "x" * 34,
                "appsecret": sim.app_secret,
            },
        )
        assert (r.status_code, r.json()["error_code"]) == (403, "EGW00103")


async def test_credentials_have_kis_lengths() -> None:
    """The simulator's app key is 36 characters and its secret 180."""
    async with running() as (sim, _client):
        assert (len(sim.app_key), len(sim.app_secret)) == (36, 180)


async def test_approval_key_is_uuid_shaped() -> None:
    """Approval returns a 36-character approval_key."""
    async with running() as (sim, client):
        key = await approval(sim, client)
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key)


async def test_approval_needs_the_secretkey_field() -> None:
    """Approval with ``appsecret`` instead of ``secretkey`` is refused."""
    async with running() as (sim, client):
        r = await client.post(
            "/oauth2/Approval",
            json={
                "grant_type": "client_credentials",
                "appkey": sim.app_key,
                "appsecret": sim.app_secret,
            },
        )
        assert r.status_code == 403


async def test_revoked_token_is_egw00121() -> None:
    """After revokeP the token is rejected with EGW00121."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        r = await client.post(
            "/oauth2/revokeP",
            json={"appkey": sim.app_key, "appsecret": sim.app_secret, "token": tok},
        )
        assert r.status_code == 200
        r = await price(sim, client, tok)
        assert (r.status_code, r.json()["rt_cd"], r.json()["msg_cd"]) == (500, "1", "EGW00121")


async def test_expired_token_is_egw00123() -> None:
    """A token past its lifetime (market time) is rejected with EGW00123."""
    async with running(token_lifetime_s=60) as (sim, client):
        tok = await token(sim, client)
        sim.clock.set(sim.clock.now() + dt.timedelta(seconds=61))
        r = await price(sim, client, tok)
        assert (r.status_code, r.json()["msg_cd"]) == (500, "EGW00123")


async def test_missing_authorization_is_egw00121() -> None:
    """A quote call without a bearer token is EGW00121."""
    async with running() as (sim, client):
        hdr = headers(sim, "x", "FHKST01010100")
        del hdr["authorization"]
        r = await client.get(
            f"{QUOTES}/inquire-price",
            params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
            headers=hdr,
        )
        assert (r.status_code, r.json()["msg_cd"]) == (500, "EGW00121")


async def test_inquire_price_envelope_and_string_values() -> None:
    """inquire-price answers rt_cd 0 / MCA00000 and an output object of strings."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        r = await price(sim, client, tok)
        body = r.json()
        assert (body["rt_cd"], body["msg_cd"]) == ("0", "MCA00000")
        assert {str} == {type(v) for v in body["output"].values()}
        assert r.headers["tr_id"] == "FHKST01010100"


async def test_inquire_price_has_the_reference_fields() -> None:
    """The §5.1 fields are all present."""
    wanted = {
        "stck_prpr", "prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "acml_vol", "acml_tr_pbmn",
        "prdy_vrss_vol_rate", "stck_oprc", "stck_hgpr", "stck_lwpr", "stck_mxpr", "stck_llam",
        "stck_sdpr", "wghn_avrg_stck_prc", "aspr_unit", "lstn_stcn", "hts_avls", "per", "pbr",
        "eps", "bps", "hts_frgn_ehrt", "frgn_ntby_qty", "pgtr_ntby_qty", "iscd_stat_cls_code",
        "temp_stop_yn", "vi_cls_code", "ovtm_vi_cls_code", "mrkt_warn_cls_code",
        "invt_caful_yn", "short_over_yn", "sltr_yn", "mang_issu_cls_code", "ssts_yn",
        "rprs_mrkt_kor_name", "bstp_kor_isnm", "stck_shrn_iscd",
    }  # fmt: skip
    async with running() as (sim, client):
        tok = await token(sim, client)
        output = (await price(sim, client, tok)).json()["output"]
        assert set() == wanted - set(output)


async def test_inquire_price_matches_the_market_model() -> None:
    """The served price and volume are the model's at the served second."""
    async with running(speed=0.001) as (sim, client):
        tok = await token(sim, client)
        output = (await price(sim, client, tok)).json()["output"]
        q = sim.market.quote(sim.market.symbol("005930"), sim.market.second_of(sim.clock.now()))
        assert (str(q.price), str(q.acml_vol)) == (output["stck_prpr"], output["acml_vol"])


async def test_multiprice_returns_one_row_per_symbol_in_order() -> None:
    """intstock-multprice with 30 pairs returns 30 rows in request order."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        codes = [s.code for s in sim.market.symbols[:30]]
        params = {}
        for i, code in enumerate(codes, 1):
            params[f"FID_COND_MRKT_DIV_CODE_{i}"] = "J"
            params[f"FID_INPUT_ISCD_{i}"] = code
        r = await client.get(
            f"{QUOTES}/intstock-multprice",
            params=params,
            headers=headers(sim, tok, "FHKST11300006"),
        )
        assert codes == [row["inter_shrn_iscd"] for row in r.json()["output"]]


async def test_multiprice_beyond_30_symbols_is_refused_not_cut_short() -> None:
    """35 pairs are more than one call takes: a KIS-style error (SIMQ0004), no rows, no
    truth records, instead of 30 rows that silently drop the last five symbols."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        params = {}
        for i, symbol in enumerate(sim.market.symbols[:35], 1):
            params[f"FID_COND_MRKT_DIV_CODE_{i}"] = "J"
            params[f"FID_INPUT_ISCD_{i}"] = symbol.code
        r = await client.get(
            f"{QUOTES}/intstock-multprice",
            params=params,
            headers=headers(sim, tok, "FHKST11300006"),
        )
        body = r.json()
        assert (500, "1", "SIMQ0004", None, []) == (
            r.status_code,
            body["rt_cd"],
            body["msg_cd"],
            body.get("output"),
            sim.truth.served(channel="FHKST11300006"),
        )


async def test_multiprice_rows_are_booked_in_the_truth_log() -> None:
    """Every multi-price row is a served record."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        params = {"FID_COND_MRKT_DIV_CODE_1": "J", "FID_INPUT_ISCD_1": "005930",
                  "FID_COND_MRKT_DIV_CODE_2": "J", "FID_INPUT_ISCD_2": "000660"}  # fmt: skip
        await client.get(
            f"{QUOTES}/intstock-multprice",
            params=params,
            headers=headers(sim, tok, "FHKST11300006"),
        )
        served = sim.truth.served(channel="FHKST11300006")
        assert [r.symbol for r in served] == ["005930", "000660"]


async def test_asking_price_levels_are_ordered() -> None:
    """Orderbook asks ascend and bids descend from level 1, and ask1 > bid1."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        r = await asking_price(sim, client, tok)
        o1 = r.json()["output1"]
        asks = [int(o1[f"askp{i}"]) for i in range(1, 11)]
        bids = [int(o1[f"bidp{i}"]) for i in range(1, 11)]
        assert (sorted(asks), sorted(bids, reverse=True), True) == (asks, bids, asks[0] > bids[0])


async def test_index_price_for_kospi() -> None:
    """inquire-index-price for 0001 answers a decimal index value."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        r = await client.get(
            f"{QUOTES}/inquire-index-price",
            params={"FID_COND_MRKT_DIV_CODE": "U", "FID_INPUT_ISCD": "0001"},
            headers=headers(sim, tok, "FHPUP02100000"),
        )
        assert re.fullmatch(r"\d+\.\d\d", r.json()["output"]["bstp_nmix_prpr"])


async def test_rate_limit_rejects_past_the_window_budget() -> None:
    """With 3 calls per window, the 4th in the same window is 500 EGW00201."""
    async with running(rest_rate_per_s=3, rate_window_s=3600.0) as (sim, client):
        tok = await token(sim, client)
        codes = [(await price(sim, client, tok)).status_code for _ in range(3)]
        r = await price(sim, client, tok)
        assert (
            codes, r.status_code, r.json()["rt_cd"], r.json()["msg_cd"],
        ) == ([200, 200, 200], 500, "1", "EGW00201")  # fmt: skip


async def test_rate_window_in_market_time_follows_the_market_clock() -> None:
    """``rate_in_market_time``: the window is a market second (a compressed day's budget).

    At 100x, a hundredth of a wall second later is the next market second: a fourth call is
    admitted again there, while the wall-second window still refuses it.
    """
    wall = [1000.0]
    start = dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST)
    admitted = {}
    for market in (True, False):
        config = SimConfig(rest_rate_per_s=3, rate_in_market_time=market, speed=100.0)
        clock = SimClock(start, 100.0, wall=lambda: wall[0])
        auth = AuthState(config, clock, wall=lambda: wall[0])
        wall[0] = 1000.0
        first = [auth.admit(auth.app_key) for _ in range(4)]
        wall[0] += 0.011  # 1.1 market seconds
        admitted[market] = (first, auth.admit(auth.app_key))
    assert {
        True: ([True, True, True, False], True),
        False: ([True, True, True, False], False),
    } == admitted


async def test_token_throttle_in_market_time_follows_the_market_clock() -> None:
    """``rate_in_market_time``: the one-a-minute token throttle counts market seconds too.

    At 10x, 6.1 wall seconds after an issue are 61 market seconds: a client that waited out
    the minute on the market clock gets its token, while the wall-counted throttle (standalone
    ``observer simulate``, like KIS) still answers EGW00133.
    """
    wall = [1000.0]
    start = dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST)
    statuses = {}
    for market in (True, False):
        config = SimConfig(rate_in_market_time=market, speed=10.0, token_issue_interval_s=60.0)
        clock = SimClock(start, 10.0, wall=lambda: wall[0])
        auth = AuthState(config, clock, wall=lambda: wall[0])
        wall[0] = 1000.0
        first, _ = auth.issue_token(auth.app_key)
        wall[0] += 6.1
        second, _ = auth.issue_token(auth.app_key)
        statuses[market] = (first, second)
    assert {True: (200, 200), False: (200, 403)} == statuses


async def test_wall_clock_expiry_is_stated_on_the_wall_not_the_market_day() -> None:
    """``token_expiry_clock`` wall: a market on a past day at 2x states the expiry as the real
    time plus the lifetime left in wall seconds (12 h), not an instant days gone."""
    wall_now = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
    config = SimConfig(token_expiry_clock="wall", speed=2.0, token_lifetime_s=86_400)
    clock = SimClock(dt.datetime(2026, 11, 20, 9, 0, tzinfo=KST), 2.0, wall=lambda: 0.0)
    auth = AuthState(config, clock, wall=lambda: 0.0, wall_time=lambda: wall_now)
    status, body = auth.issue_token(auth.app_key)
    assert (200, "2026-11-24 22:00:00", 43_200) == (
        status,
        body["access_token_token_expired"],
        body["expires_in"],
    )


async def test_tr_id_must_match_the_path() -> None:
    """A wrong tr_id header is refused."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        r = await client.get(
            f"{QUOTES}/inquire-price",
            params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
            headers=headers(sim, tok, "FHKST11300006"),
        )
        assert (r.json()["rt_cd"], r.json()["msg_cd"]) == ("1", "SIMQ0001")


async def test_order_endpoint_does_not_exist() -> None:
    """Order endpoints are 404: the simulator never accepts an order."""
    async with running() as (sim, client):
        tok = await token(sim, client)
        r = await client.post(
            "/uapi/domestic-stock/v1/trading/order-cash",
            json={"PDNO": "005930"},
            headers=headers(sim, tok, "TTTC0012U"),
        )
        assert r.status_code == 404


async def test_master_list_has_every_symbol() -> None:
    """GET /sim/v1/master lists the universe as {code, name, market}."""
    async with running(n_symbols=250) as (_sim, client):
        rows = (await client.get("/sim/v1/master")).json()
        assert (250, {"code", "name", "market"}) == (len(rows), set(rows[0]))
