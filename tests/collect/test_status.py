"""The status endpoint over a real loopback socket: routes, runbook keys, Prometheus text."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from observer.status import (
    QUOTE_METRIC_KEYS,
    MeteredSendStream,
    RunState,
    RunStatus,
    serve_status,
)
from pipeline import (
    KST,
    Environment,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    Source,
)

NOW = dt.datetime(2025, 11, 12, 1, 0, tzinfo=dt.UTC)


def snapshot(symbol: str, source: Source) -> ObservationSnapshot:
    return ObservationSnapshot(
        symbol=symbol,
        mode=Mode.SCALP,
        source=source,
        environment=Environment.SIM,
        trading_day=dt.date(2025, 11, 12),
        exchange_time=dt.datetime(2025, 11, 12, 10, 0, tzinfo=KST),
        receive_time=NOW,
        cycle_id="scalp-100000",
        last=70_000,
    )


def ledger(expected: int, archived: int, failed: int) -> LedgerEntry:
    return LedgerEntry(
        cycle_id="swing-0900",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=dt.date(2025, 11, 12),
        started_at=NOW,
        ended_at=NOW,
        expected=expected,
        received=archived,
        archived=archived,
        failed={"timeout": failed} if failed else {},
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[RunStatus, httpx.AsyncClient]]:
    status = RunStatus(now=lambda: NOW)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_status, status)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield status, client
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_quote_metrics_has_exactly_the_runbook_keys(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """GET /v1/metrics/quote answers with the eight runbook keys, no more, no less."""
    _, client = served
    response = await client.get("/v1/metrics/quote")
    assert sorted(QUOTE_METRIC_KEYS) == sorted(response.json())


@pytest.mark.anyio
async def test_quote_metrics_reports_socket_state(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """Socket counters set by the collectors appear in /v1/metrics/quote."""
    status, client = served
    status.ws_connected = True
    status.ws_messages = 12
    status.ws_reconnect_count = 1
    status.last_ws_message = NOW - dt.timedelta(seconds=5)
    status.cached_symbols = 2
    response = await client.get("/v1/metrics/quote")
    assert {
        "cached_symbols": 2,
        "ws_messages": 12,
        "rest_fallbacks": 0,
        "ws_connected": True,
        "last_ws_message_ts": "2025-11-12T00:59:55+00:00",
        "ws_heartbeat_fresh": True,
        "ws_reconnect_count": 1,
        "ws_last_error": None,
    } == response.json()


@pytest.mark.anyio
async def test_heartbeat_goes_stale_after_the_timeout(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """A last frame older than the heartbeat timeout reads as not fresh."""
    status, client = served
    status.last_ws_message = NOW - dt.timedelta(seconds=61)
    response = await client.get("/v1/metrics/quote")
    assert False is response.json()["ws_heartbeat_fresh"]


@pytest.mark.anyio
async def test_session_status_reports_the_loss_figure(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """After a cycle with 3 of 100 failed, the status says lost 3 of 100."""
    status, client = served
    status.book(ledger(expected=100, archived=97, failed=3))
    body = (await client.get("/v1/session/status")).json()
    assert (100, 3, 0.03, {"swing": 1}) == (
        body["expected"],
        body["lost"],
        body["loss_rate"],
        body["cycles"],
    )


@pytest.mark.anyio
async def test_quote_returns_the_latest_snapshot_with_its_source(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """GET /v1/quotes/{symbol} returns the last snapshot observed, source included."""
    status, client = served
    status.observe(snapshot("005930", Source.KIS_WS))
    status.observe(snapshot("005930", Source.KIS_REST))
    body = (await client.get("/v1/quotes/005930")).json()
    assert ("005930", "kis-rest", 70_000) == (body["symbol"], body["source"], body["last"])


@pytest.mark.anyio
async def test_quote_of_an_unseen_symbol_is_404(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """A symbol never observed is a 404, not an empty body."""
    _, client = served
    assert 404 == (await client.get("/v1/quotes/000660")).status_code


@pytest.mark.anyio
async def test_quote_of_a_malformed_symbol_is_400(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """A symbol longer than any code (33 characters) is a 400."""
    _, client = served
    assert 400 == (await client.get("/v1/quotes/" + "0" * 33)).status_code


@pytest.mark.anyio
async def test_quote_of_an_etn_code_is_served(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """An ETN's 7-character code (``Q500001``, admitted by the README's symbol_pattern) is
    looked up like any other: its snapshot is served."""
    status, client = served
    status.observe(snapshot("Q500001", Source.KIS_REST))
    response = await client.get("/v1/quotes/Q500001")
    assert (200, "Q500001") == (response.status_code, response.json().get("symbol"))


@pytest.mark.anyio
async def test_quote_of_a_code_of_another_shape_not_held_is_404(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """A short code the run does not hold (``5930``) is a 404, like any symbol not held."""
    _, client = served
    assert 404 == (await client.get("/v1/quotes/5930")).status_code


@pytest.mark.anyio
async def test_metrics_exports_stream_backpressure(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """A send that waited on a full stream shows in /metrics as a blocked send."""
    status, client = served
    send, receive = anyio.create_memory_object_stream[int](1)
    metered = MeteredSendStream(send, status.stream("raw"))
    async with send, receive, anyio.create_task_group() as tg:
        await metered.send(1)
        tg.start_soon(metered.send, 2)
        with anyio.fail_after(5):
            while send.statistics().tasks_waiting_send == 0:  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.001)
        text = (await client.get("/metrics")).text
        await receive.receive()
        await receive.receive()
    samples = {
        (s.name, s.labels.get("stream")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert (1.0, 1.0, 1.0) == (
        samples[("observer_stream_blocked_sends_total", "raw")],
        samples[("observer_stream_senders_waiting", "raw")],
        samples[("observer_stream_buffer_used", "raw")],
    )


@pytest.mark.anyio
async def test_metrics_help_says_what_the_socket_and_fallback_counters_count(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """ws_messages counts every message (acks, PINGPONG too) and rest_fallbacks every
    observation asked over REST (failed ones too): their /metrics help says so."""
    _, client = served
    text = (await client.get("/metrics")).text
    helps = {f.name: f.documentation for f in text_string_to_metric_families(text)}
    assert (
        "WebSocket messages received: data frames and control (acks, PINGPONG, malformed)",
        "Scalp observations asked over REST for a stale socket (failed ones included)",
    ) == (helps["observer_ws_messages"], helps["observer_rest_fallbacks"])


@pytest.mark.anyio
async def test_status_server_releases_its_port_on_cancel() -> None:
    """Cancelling the server's task closes its listening socket."""
    status = RunStatus(now=lambda: NOW)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_status, status)
        tg.cancel_scope.cancel()
    with pytest.raises(OSError):
        await anyio.connect_tcp("127.0.0.1", port)


@pytest.mark.parametrize(
    ("left", "shown"),
    [
        (dt.timedelta(hours=6, minutes=4, seconds=30), "login 08:30 in 6h04m"),
        (dt.timedelta(minutes=4, seconds=9), "login 08:30 in 4m09s"),
        (dt.timedelta(seconds=11, milliseconds=200), "login 08:30 in 12s"),
        (dt.timedelta(days=2, hours=3), "login 08:30 in 2d3h"),
    ],
)
def test_waiting_line_names_the_login_and_counts_down_to_it(left: dt.timedelta, shown: str) -> None:
    """Before the login tick the line says which day logs in, at what KST time, and when."""
    login = dt.datetime(2025, 11, 12, 8, 30, tzinfo=KST)
    status = RunStatus(now=lambda: login - left, state=RunState.WAITING)
    status.trading_day, status.login_at = login.date(), login
    assert f"| 2025-11-12 {shown} |" in status.line(), status.line()


def test_collecting_line_counts_cycles_not_the_login() -> None:
    """Once collecting, the line shows cycles by mode, not the login it is past."""
    login = dt.datetime(2025, 11, 12, 8, 30, tzinfo=KST)
    status = RunStatus(now=lambda: login, state=RunState.COLLECTING, login_at=login)
    status.book(ledger(expected=10, archived=10, failed=0))
    assert ("| swing 1 |" in status.line(), "login" in status.line()) == (True, False)


@pytest.mark.anyio
async def test_session_status_names_the_login_time(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """GET /v1/session/status carries the login tick's time (what a waiting run waits for)."""
    status, client = served
    status.login_at = dt.datetime(2025, 11, 12, 8, 30, tzinfo=KST)
    body = (await client.get("/v1/session/status")).json()
    assert "2025-11-12T08:30:00+09:00" == body["login_at"]


@pytest.mark.anyio
async def test_session_status_gives_every_instant_in_kst(
    served: tuple[RunStatus, httpx.AsyncClient],
) -> None:
    """A login tick or clock held in UTC is shown at +09:00, like the session's open."""
    status, client = served
    status.login_at = dt.datetime(2025, 11, 11, 23, 30, tzinfo=dt.UTC)
    status.session_open = dt.datetime(2025, 11, 12, 9, 0, tzinfo=KST)
    body = (await client.get("/v1/session/status")).json()
    assert (
        "2025-11-12T08:30:00+09:00",
        "2025-11-12T09:00:00+09:00",
        "2025-11-12T10:00:00+09:00",
    ) == (body["login_at"], body["session_open"], body["now"])


@pytest.mark.anyio
async def test_the_status_endpoint_logs_the_port_it_listens_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Port 0 picks a free port: a status_listening event names host and port."""
    status = RunStatus(now=lambda: NOW)
    with caplog.at_level(logging.INFO, "observer.status"):
        async with anyio.create_task_group() as tg:
            port = await tg.start(serve_status, status)
            tg.cancel_scope.cancel()
    events = [
        (r.getMessage(), getattr(r, "host", None), getattr(r, "port", None))
        for r in caplog.records
        if r.getMessage() == "status_listening"
    ]
    assert [("status_listening", "127.0.0.1", port)] == events
