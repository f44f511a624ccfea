"""Recoverable faults injected into a simulated slice: loss stays under 0.1 %, the truth agrees.

Each run is four simulated minutes at 10x (about 30 s of wall time) with one fault at 09:01
or 09:02, shared by the tests of that fault.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from observer.sim import FaultKind, FaultSpec
from pipeline import Mode
from tests.e2e._harness import SliceRun, at, simulate_slice

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

FAULTS = {
    "disconnect": FaultSpec(kind=FaultKind.DISCONNECT, at=at("09:01:00"), abrupt=True),
    "silence_60s": FaultSpec(kind=FaultKind.SILENCE, at=at("09:01:00"), duration_s=60),
    "rate_limit_burst": FaultSpec(kind=FaultKind.RATE_LIMIT_BURST, at=at("09:02:00"), duration_s=5),
    "token_revocation": FaultSpec(kind=FaultKind.REVOKE_TOKENS, at=at("09:01:59")),
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=sorted(FAULTS))
async def faulted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SliceRun:
    root = tmp_path_factory.mktemp(request.param) / "archive"
    with anyio.fail_after(100):
        return await simulate_slice(root, faults=[FAULTS[request.param]])


async def test_the_fault_fired(faulted: SliceRun) -> None:
    """The simulator's log shows exactly one injected fault."""
    assert 1 == len(faulted.truth.faults)


async def test_loss_stays_under_a_tenth_of_a_percent(faulted: SliceRun) -> None:
    """Loss over the slice stays below 0.1 % of what was expected."""
    assert (True, faulted.lost()) == (faulted.lost() < 0.001 * faulted.expected(), faulted.lost())


async def test_swing_loss_in_the_ledger_equals_the_truth(faulted: SliceRun) -> None:
    """What the ledger says swing lost is what the simulator's log says it never served."""
    assert faulted.truth_swing_lost() == faulted.lost(Mode.SWING)


async def test_every_scalp_loss_is_a_failure_with_a_cause(faulted: SliceRun) -> None:
    """Scalp loss is all booked failures (no rejects or drops hide in it)."""
    failed = sum(sum(e.failed.values()) for e in faulted.ledger if e.mode is Mode.SCALP)
    assert faulted.lost(Mode.SCALP) == failed


async def test_a_compressed_day_keeps_a_live_days_request_budget(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """At 10x with a gateway of 2 requests a second and the socket silent for two minutes,
    every scalp second falls back to REST beside the swing cycles, and nothing is lost.

    The limit counts market seconds on both sides (``observer run --simulate``): the slice
    has what a live day of that account has per second of the market. Counted on the wall,
    the same slice has a tenth of that and its fallbacks time out (60 lost when measured).
    """
    silence = FaultSpec(kind=FaultKind.SILENCE, at=at("09:00:30"), duration_s=120)
    with anyio.fail_after(100):
        run = await simulate_slice(
            tmp_path_factory.mktemp("budget") / "archive",
            length=dt.timedelta(minutes=3),
            rest_rate_per_s=2,
            faults=[silence],
        )
    fallbacks = sum(e.rest_fallbacks for e in run.ledger)
    assert (0, True) == (run.lost(), fallbacks >= 100)


async def test_revoked_tokens_are_replaced_within_a_market_minute(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """At 10x with KIS's one-token-a-minute throttle, tokens revoked at 09:01 are replaced
    in the next market minute and nothing is lost.

    The simulator counts the throttle in market seconds, as the client waits it out
    (``observer run --simulate``). Counted on the wall, each retry a market minute later was
    refused again for ten market minutes and the swing cycles after the revocation were lost.
    """
    revoke = FaultSpec(kind=FaultKind.REVOKE_TOKENS, at=at("09:01:00"))
    with anyio.fail_after(100):
        run = await simulate_slice(
            tmp_path_factory.mktemp("revoke") / "archive",
            length=dt.timedelta(minutes=3),
            faults=[revoke],
            token_issue_interval_s=60.0,
        )
    assert (0, 0) == (run.lost(Mode.SWING), run.lost())


async def test_a_slice_late_in_the_day_loses_nothing_to_the_warm_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A slice starting at 15:00 at 20x loses nothing: the simulator computes its morning
    before its clock starts. (It computed it while its clock ran: the socket went silent and
    the first cycles failed, a quarter of a 20-minute slice of 2,500 symbols.)"""
    with anyio.fail_after(100):
        run = await simulate_slice(
            tmp_path_factory.mktemp("late") / "archive",
            length=dt.timedelta(minutes=3),
            speed=20.0,
            n_symbols=800,
            at_time=dt.time(15, 0),
        )
    assert (0, True) == (run.lost(), run.expected() > 0)


@pytest.mark.anyio
async def test_records_with_fields_kis_added_are_counted_in_the_metrics(tmp_path: Path) -> None:
    """Data frames whose records carry extra trailing fields (KIS adding fields) are parsed
    and counted where an operator sees them: /metrics' observer_ws_extra_field_records."""
    from observer.status._app import status_app

    wide = FaultSpec(kind=FaultKind.LONG_FRAME, at=at("09:00:20"), count=3, extra_fields=2)
    with anyio.fail_after(100):
        run = await simulate_slice(tmp_path / "a", length=dt.timedelta(minutes=1), faults=[wide])
    assert run.status is not None
    transport = httpx.ASGITransport(app=status_app(run.status))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        text = (await client.get("/metrics")).text
    [count] = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "observer_ws_extra_field_records_total"
    ]
    assert (True, count) == (count >= 3, float(run.status.ws_extra_field_records))
