"""A halted stock (거래정지, ``SimConfig.halted_symbols``): what the simulator serves for it,
over a real loopback socket, and what its ground truth books."""

from __future__ import annotations

import datetime as dt

import pytest
import websockets
from click.testing import CliRunner

from observer.cli import cli
from observer.sim import ASP_FIELDS, CNT_FIELDS, SimConfig, SimMarket, SimStartError, Simulator
from observer.sim._market import CLOSE_S
from tests.sim.helpers import (
    DAY,
    QUOTES,
    approval,
    asking_price,
    data_frames,
    headers,
    price,
    records,
    running,
    subscribe,
    token,
)

pytestmark = pytest.mark.anyio

HALTED = "000660"
TRADED = "005930"


def _limits(sim: Simulator, code: str) -> tuple[int, int, int]:
    sym = sim.market.symbol(code)
    assert sym is not None
    return sim.market.limits(sym)


async def test_halted_stock_current_price_shows_the_halt_as_kis_does() -> None:
    """inquire-price: the previous close as the price, open/high/low 0, no volume, halt flag
    Y, status 58 거래정지, the day's limits."""
    async with running(halted_symbols=(HALTED,)) as (sim, client):
        tok = await token(sim, client)
        out = (await price(sim, client, tok, HALTED)).json()["output"]
        base, upper, lower = _limits(sim, HALTED)
        fields = ("stck_prpr", "prdy_vrss", "prdy_vrss_sign", "stck_oprc", "stck_hgpr",
                  "stck_lwpr", "acml_vol", "acml_tr_pbmn", "stck_mxpr", "stck_llam",
                  "stck_sdpr", "temp_stop_yn", "iscd_stat_cls_code", "vi_cls_code")  # fmt: skip
        expected = (str(base), "0", "3", "0", "0", "0", "0", "0", str(upper), str(lower),
                    str(base), "Y", "58", "N")  # fmt: skip
        assert expected == tuple(out[f] for f in fields)


async def test_a_traded_stock_beside_a_halted_one_is_not_flagged() -> None:
    """The others keep temp_stop_yn N and status 55."""
    async with running(halted_symbols=(HALTED,)) as (sim, client):
        tok = await token(sim, client)
        out = (await price(sim, client, tok, TRADED)).json()["output"]
        assert ("N", "55") == (out["temp_stop_yn"], out["iscd_stat_cls_code"])


async def test_halted_stock_multi_price_row_has_no_trade_and_no_quotes() -> None:
    """intstock-multprice: the previous close as the price, open/high/low 0, no volume, no
    best ask/bid, the day's limits."""
    async with running(halted_symbols=(HALTED,)) as (sim, client):
        tok = await token(sim, client)
        params = {"FID_COND_MRKT_DIV_CODE_1": "J", "FID_INPUT_ISCD_1": HALTED}
        r = await client.get(
            f"{QUOTES}/intstock-multprice",
            params=params,
            headers=headers(sim, tok, "FHKST11300006"),
        )
        row = r.json()["output"][0]
        base, upper, lower = _limits(sim, HALTED)
        fields = ("inter2_prpr", "inter2_prdy_vrss", "inter2_oprc", "inter2_hgpr", "inter2_lwpr",
                  "acml_vol", "inter2_askp", "inter2_bidp", "inter2_mxpr", "inter2_llam",
                  "inter2_prdy_clpr")  # fmt: skip
        expected = (str(base), "0", "0", "0", "0", "0", "0", "0", str(upper), str(lower),
                    str(base))  # fmt: skip
        assert expected == tuple(row[f] for f in fields)


async def test_halted_stock_orderbook_is_empty() -> None:
    """inquire-asking-price-exp-ccn: every level 0 (no orders are taken while halted)."""
    async with running(halted_symbols=(HALTED,)) as (sim, client):
        tok = await token(sim, client)
        o1 = (await asking_price(sim, client, tok, HALTED)).json()["output1"]
        levels = [o1[f"{side}{i}"] for side in ("askp", "bidp", "askp_rsqn", "bidp_rsqn")
                  for i in range(1, 11)]  # fmt: skip
        assert ["0"] * 40 == levels


async def test_halted_stock_gets_no_socket_frames_and_the_truth_books_none() -> None:
    """Subscribed beside a traded stock, the halted one gets no H0STCNT0 / H0STASP0 record
    while the other gets many; the truth log books none for it."""
    async with running(halted_symbols=(HALTED,)) as (sim, client):
        key = await approval(sim, client)
        async with websockets.connect(sim.ws_url) as ws:
            for tr_id in ("H0STCNT0", "H0STASP0"):
                for code in (HALTED, TRADED):
                    await subscribe(ws, key, tr_id, code)
            frames = await data_frames(ws, 40)
        codes = {
            r[0]
            for f in frames
            for r in records(f, CNT_FIELDS if f.split("|")[1] == "H0STCNT0" else ASP_FIELDS)
        }
        booked = (sim.truth.count(HALTED, "H0STCNT0"), sim.truth.count(HALTED, "H0STASP0"))
        assert ({TRADED}, (0, 0)) == (codes, booked)


def test_halted_symbol_never_trades_all_day() -> None:
    """The market model gives a halted symbol no trade from the opening call to the close."""
    m = SimMarket(7, 100, DAY, halted=(HALTED,))
    sym = m.symbol(HALTED)
    assert sym is not None
    assert [] == m.trades(sym, -1, CLOSE_S)


def test_halt_leaves_the_other_symbols_as_they_were() -> None:
    """Halting one symbol changes nothing another one serves."""
    sym = SimMarket(7, 100, DAY).symbol(TRADED)
    assert sym is not None
    before = SimMarket(7, 100, DAY).quote(sym, 5_000)
    after = SimMarket(7, 100, DAY, halted=(HALTED,)).quote(sym, 5_000)
    assert before == after


def test_a_halted_symbol_outside_the_universe_refuses_to_start() -> None:
    """A code the universe lacks is a start error naming it, not a silent no-op."""
    config = SimConfig(n_symbols=10, trading_day=DAY, halted_symbols=("999990",), warm_up=False)
    with pytest.raises(SimStartError, match="999990"):
        Simulator(config)


def test_a_halted_symbol_that_is_not_a_code_is_refused() -> None:
    """halted_symbols takes 6-character stock codes."""
    with pytest.raises(ValueError, match="halted_symbols"):
        SimConfig(halted_symbols=("5930",), start_time=dt.time(9, 0))


def test_simulate_halt_option_halts_the_named_stock() -> None:
    """``observer simulate --halt CODE`` serves that stock halted and says so."""
    result = CliRunner().invoke(
        cli, ["simulate", "--symbols", "10", "--day", "2026-11-24", "--duration", "0.1",
              "--halt", HALTED]
    )  # fmt: skip
    assert (0, True) == (result.exit_code, f"halted  {HALTED}" in result.output)


def test_simulate_halt_of_a_code_the_market_lacks_is_a_clear_error() -> None:
    """``--halt`` of a code outside the universe stops with an error naming it."""
    result = CliRunner().invoke(
        cli, ["simulate", "--symbols", "10", "--duration", "0.1", "--halt", "999990"]
    )
    assert (1, True) == (result.exit_code, "999990" in result.output)
