"""The KIS clients against the embedded simulator over real loopback HTTP and WebSocket."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from observer.kis import (
    DataFrame,
    KisAuth,
    KisConfig,
    KisRestClient,
    KisSubscriptionLimit,
    KisWsClient,
    ReceivedFrame,
    Registration,
    RetryPolicy,
    Secret,
    SnapshotContext,
    WsBackoff,
    WsEvent,
    WsEventKind,
    convert_rest_result,
    registrations_for,
    snapshot_from_orderbook_record,
    snapshot_from_trade_record,
)
from observer.sim import SimConfig, Simulator, serve_simulator
from pipeline import Environment, Mode

pytestmark = pytest.mark.anyio

SIM_DEFAULTS: dict[str, Any] = {"seed": 11, "n_symbols": 60, "speed": 1.0}


@asynccontextmanager
async def simulator(**over: Any) -> AsyncIterator[Simulator]:
    async with serve_simulator(SimConfig(**{**SIM_DEFAULTS, **over})) as sim:
        yield sim


def kis_config(sim: Simulator, **over: Any) -> KisConfig:
    base = KisConfig(
        environment=Environment.SIM,
        app_key=Secret(""),
        app_secret=Secret(""),
        token_cache_dir=None,
        retry=RetryPolicy(attempts=10, deadline_s=20, rate_limit_cooldown_s=0.2),
    ).bind_simulator(
        rest_url=sim.rest_url, ws_url=sim.ws_url, app_key=sim.app_key, app_secret=sim.app_secret
    )
    return msgspec.structs.replace(base, **over)


def symbols(sim: Simulator, n: int) -> list[str]:
    return [row["code"] for row in sim.market.master()[:n]]


class Recorder:
    """Collects frames and events; tests await a predicate over them with a deadline."""

    def __init__(self) -> None:
        self.frames: list[ReceivedFrame] = []
        self.events: list[WsEvent] = []
        self._waiters: list[tuple[Callable[[], bool], anyio.Event]] = []

    def _check(self) -> None:
        for predicate, event in list(self._waiters):
            if predicate():
                event.set()
                self._waiters.remove((predicate, event))

    async def on_frame(self, frame: ReceivedFrame) -> None:
        self.frames.append(frame)
        self._check()

    async def on_event(self, event: WsEvent) -> None:
        self.events.append(event)
        self._check()

    async def wait(self, predicate: Callable[[], bool], deadline_s: float) -> None:
        if predicate():
            return
        event = anyio.Event()
        self._waiters.append((predicate, event))
        with anyio.fail_after(deadline_s):
            await event.wait()

    def records(self, tr_id: str) -> list[tuple[str, ...]]:
        return [
            r
            for f in self.frames
            if isinstance(f.message, DataFrame) and f.message.tr_id == tr_id
            for r in f.message.records
        ]

    def kinds(self) -> list[WsEventKind]:
        return [e.kind for e in self.events]


def ws_client(
    config: KisConfig, auth: KisAuth, rec: Recorder, regs: list[Registration], **kw: Any
) -> KisWsClient:
    kw.setdefault("backoff", WsBackoff(initial_s=0.1, max_s=1.0, session_in_use_s=0.5))
    kw.setdefault("subscribe_interval_s", 0.0)
    return KisWsClient(
        config,
        auth,
        registrations=regs,
        on_frame=rec.on_frame,
        on_event=rec.on_event,
        rng=random.Random(1),
        **kw,
    )


# ---------------------------------------------------------------------------------- REST


async def test_every_quote_endpoint_converts_without_rejections() -> None:
    """Price, multi-price, orderbook and index answer 200 and the snapshots convert cleanly."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        codes = symbols(sim, 30)
        results = [
            await rest.inquire_price(codes[0]),
            await rest.inquire_multi_price(codes),
            await rest.inquire_orderbook(codes[1]),
        ]
        index = await rest.inquire_index_price("0001")
        ctx = SnapshotContext(
            mode=Mode.SWING,
            environment=Environment.SIM,
            trading_day=sim.market.day,
            receive_time=results[0].received_at,
        )
        outcomes = [convert_rest_result(r, ctx) for r in results]
    got = (
        [len(o.snapshots) for o in outcomes],
        [o.rejections for o in outcomes],
        index.status,
        [s.symbol for s in outcomes[1].snapshots],
    )
    expected = ([1, 30, 1], [(), (), ()], 200, codes)
    assert expected == got


@pytest.mark.slow
async def test_forced_token_expiry_mid_burst_fails_no_request() -> None:
    """Tokens expired while 40 requests run: every request succeeds, one new token issued."""
    async with simulator(token_issue_interval_s=0.5) as sim:
        config = kis_config(sim, token_issue_interval_s=0.5)
        async with KisRestClient(config) as rest:
            codes = symbols(sim, 40)
            await rest.inquire_price(codes[0])
            statuses: list[int] = []

            async def one(code: str) -> None:
                statuses.append((await rest.inquire_price(code)).status)

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    for n, code in enumerate(codes):
                        if n == 10:
                            sim.faults.expire_tokens()
                        tg.start_soon(one, code)
    expected = ([200] * 40, 2)
    assert expected == (statuses, rest.auth.tokens_issued)


async def test_revoked_token_is_refreshed_once_and_the_request_retried() -> None:
    """After revocation (EGW00121) the next request costs exactly one refresh."""
    async with (
        simulator(token_issue_interval_s=0.5) as sim,
        KisRestClient(kis_config(sim, token_issue_interval_s=0.5)) as rest,
    ):
        code = symbols(sim, 1)[0]
        await rest.inquire_price(code)
        sim.faults.revoke_tokens()
        with anyio.fail_after(20):
            result = await rest.inquire_price(code)
    expected = (200, 1, 2)
    assert expected == (result.status, rest.token_refreshes, rest.auth.tokens_issued)


async def test_issuance_throttle_hit_by_a_second_process_is_waited_out() -> None:
    """A second client on the key inside the throttle gets EGW00133, backs off, gets a token."""
    async with simulator(token_issue_interval_s=1.0, token_reuse_s=0) as sim:
        config = kis_config(sim, token_issue_interval_s=1.0)
        async with KisRestClient(config) as first, KisRestClient(config) as second:
            code = symbols(sim, 1)[0]
            await first.inquire_price(code)
            with anyio.fail_after(20):
                result = await second.inquire_price(code)
    expected = (200, 1)
    assert expected == (result.status, second.auth.tokens_issued)


async def test_rate_limit_burst_ends_with_zero_lost_requests() -> None:
    """During a 1 s EGW00201 burst 30 requests are rate limited, cooled down and all succeed."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        codes = symbols(sim, 30)
        await rest.inquire_price(codes[0])
        sim.faults.rate_limit_burst(1.0)
        statuses: list[int] = []

        async def one(code: str) -> None:
            statuses.append((await rest.inquire_price(code)).status)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for code in codes:
                    tg.start_soon(one, code)
    expected = ([200] * 30, True)
    assert expected == (statuses, rest.rate_limited > 0)


@pytest.mark.slow
async def test_client_limiter_keeps_under_the_server_limit() -> None:
    """60 concurrent requests at 18/s against a 20/s server are never rate limited."""
    async with (
        simulator(rest_rate_per_s=20) as sim,
        KisRestClient(kis_config(sim, rest_rate_per_s=18.0)) as rest,
    ):
        codes = symbols(sim, 60)
        statuses: list[int] = []

        async def one(code: str) -> None:
            statuses.append((await rest.inquire_price(code)).status)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for code in codes:
                    tg.start_soon(one, code)
    expected = (0, [200] * 60)
    assert expected == (rest.rate_limited, statuses)


async def test_server_5xx_is_retried_to_success() -> None:
    """Two 502 answers in a row are retried and the request succeeds."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        code = symbols(sim, 1)[0]
        await rest.inquire_price(code)
        sim.faults.http_5xx(count=2)
        with anyio.fail_after(20):
            result = await rest.inquire_price(code)
    expected = (200, 2)
    assert expected == (result.status, rest.retries)


# ----------------------------------------------------------------------------- WebSocket


@asynccontextmanager
async def running(ws: KisWsClient, start_s: float = 15) -> AsyncIterator[anyio.abc.TaskGroup]:
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(start_s):
            await tg.start(ws.run)
        yield tg
        tg.cancel_scope.cancel()


async def test_41_registrations_are_acked_and_the_42nd_refused_before_sending() -> None:
    """20 symbols × 2 TRs + 1 are all subscribed; one more raises KisSubscriptionLimit locally."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        codes = symbols(sim, 22)
        regs = [*registrations_for(codes[:20]), Registration("H0STCNT0", codes[20])]
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, regs)
        async with running(ws):
            with pytest.raises(KisSubscriptionLimit):
                await ws.subscribe("H0STCNT0", codes[21])
            subscribed = len(ws.status.subscribed)
            on_server = [len(session["registrations"]) for session in sim.hub.describe()]
    expected = (41, [41])
    assert expected == (subscribed, on_server)


async def test_server_max_subscribe_ack_is_an_alarm_and_streaming_continues() -> None:
    """With our limit raised past KIS's, the 42nd registration's OPSP0008 is an alarm."""
    async with simulator() as sim, KisRestClient(kis_config(sim, max_ws_registrations=42)) as rest:
        codes = symbols(sim, 21)
        regs = registrations_for(codes)[:42]
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, regs)
        async with running(ws):
            subscribed = len(ws.status.subscribed)
            await rec.wait(lambda: bool(rec.records("H0STCNT0")), 10)
    failed = [e.detail.split()[0] for e in rec.events if e.kind is WsEventKind.SUBSCRIBE_FAILED]
    expected = (41, ["OPSP0008"])
    assert expected == (subscribed, failed)


async def test_multi_record_frames_lose_no_record() -> None:
    """With every push batched (NNN > 1), the records parsed equal what the simulator served."""
    async with (
        simulator(batch_probability=1.0, speed=5.0) as sim,
        KisRestClient(kis_config(sim)) as rest,
    ):
        codes = symbols(sim, 10)
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(codes, ("H0STCNT0",)))
        async with running(ws):
            await rec.wait(
                lambda: (
                    sum(
                        1
                        for f in rec.frames
                        if isinstance(f.message, DataFrame) and f.message.count > 1
                    )
                    >= 5
                ),
                20,
            )
            ws.status.connected and sim.faults.silence(30)  # freeze the stream, then compare
            await rec.wait(
                lambda: len(rec.records("H0STCNT0")) >= len(sim.truth.served(channel="H0STCNT0")),
                10,
            )
        ours = [(r[0], int(r[2])) for r in rec.records("H0STCNT0")]
        truth = [(s.symbol, s.price) for s in sim.truth.served(channel="H0STCNT0")]
    assert truth == ours


async def test_added_trailing_fields_are_kept_and_records_convert() -> None:
    """Records with 2 extra trailing fields parse with extra_fields 2 and convert, none rejected."""
    async with simulator(extra_trailing_fields=2) as sim, KisRestClient(kis_config(sim)) as rest:
        codes = symbols(sim, 5)
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(codes))
        async with running(ws):
            await rec.wait(
                lambda: len(rec.records("H0STCNT0")) >= 5 and len(rec.records("H0STASP0")) >= 5, 15
            )
        frames = [f.message for f in rec.frames if isinstance(f.message, DataFrame)]
        ctx = SnapshotContext(
            mode=Mode.SCALP,
            environment=Environment.SIM,
            trading_day=sim.market.day,
            receive_time=rec.frames[0].received_at,
        )
        converted = [snapshot_from_trade_record(r, ctx).symbol for r in rec.records("H0STCNT0")] + [
            snapshot_from_orderbook_record(r, ctx).symbol for r in rec.records("H0STASP0")
        ]
    expected = ({2}, 0, True)
    assert expected == (
        {f.extra_fields for f in frames},
        sum(ws.status.rejected_records.values()),
        set(converted) <= set(codes),
    )


async def test_records_with_added_fields_are_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every record wider than its TR's layout is counted in the status, each new width is
    logged once as ws_field_drift: the drift is visible, not silently absorbed."""
    caplog.set_level(logging.WARNING, logger="observer.kis.ws")
    async with simulator(extra_trailing_fields=2) as sim, KisRestClient(kis_config(sim)) as rest:
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(symbols(sim, 3)))
        async with running(ws):
            await rec.wait(
                lambda: len(rec.records("H0STCNT0")) >= 3 and len(rec.records("H0STASP0")) >= 3, 15
            )
        wide = sum(
            len(f.message.records)
            for f in rec.frames
            if isinstance(f.message, DataFrame) and f.message.extra_fields
        )
    drift = sorted(
        (r.tr_id, r.width)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "ws_field_drift"
    )
    assert (wide, [("H0STASP0", 61), ("H0STCNT0", 48)]) == (
        ws.status.extra_field_records,
        drift,
    )


async def test_short_frames_are_counted_rejections() -> None:
    """Three single-record frames cut short are three short_record rejections, as the truth says.

    (Single-record frames: a multi-record frame with one short record is ambiguous and all its
    records count as uneven_frame, see test_frames.)
    """
    async with simulator(batch_probability=0.0) as sim, KisRestClient(kis_config(sim)) as rest:
        codes = symbols(sim, 10)
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(codes))
        async with running(ws):
            await rec.wait(lambda: len(rec.frames) > 30, 15)
            sim.faults.short_frames(count=3)
            damaged = lambda: len([s for s in sim.truth.served() if s.flag == "short"])  # noqa: E731
            await rec.wait(
                lambda: damaged() >= 3 and ws.status.rejected_records.get("short_record", 0) >= 3,
                15,
            )
            rejected = ws.status.rejected_records.get("short_record", 0)
            truth_short = damaged()
    expected = (3, 3)
    assert expected == (truth_short, rejected)


async def test_malformed_frame_is_counted_and_the_stream_continues() -> None:
    """Two malformed frames are counted; data keeps flowing on the same connection."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(symbols(sim, 5)))
        async with running(ws):
            sim.faults.malformed_frames(count=2)
            await rec.wait(lambda: ws.status.malformed_frames >= 2, 10)
            seen = len(rec.records("H0STCNT0")) + len(rec.records("H0STASP0"))
            await rec.wait(
                lambda: len(rec.records("H0STCNT0")) + len(rec.records("H0STASP0")) > seen, 10
            )
    expected = (2, 1, 0)
    assert expected == (ws.status.malformed_frames, ws.status.connects, ws.status.reconnects)


async def test_pingpong_is_echoed_and_the_session_survives() -> None:
    """Five PINGPONGs at 0.2 s with a 1 s pong timeout: answered, never dropped."""
    async with (
        simulator(ping_interval_s=0.2, pong_timeout_s=1.0) as sim,
        KisRestClient(kis_config(sim)) as rest,
    ):
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(symbols(sim, 2)))
        async with running(ws):
            await rec.wait(lambda: ws.status.pingpongs >= 8, 10)
        dropped = [e for e in sim.truth.events if "pong" in e.kind]
    expected = (1, [])
    assert expected == (ws.status.connects, dropped)


async def test_ignored_pongs_get_the_client_dropped_and_it_reconnects() -> None:
    """When the server ignores our pongs it drops us; we reconnect and restore the registrations."""
    async with (
        simulator(ping_interval_s=0.2, pong_timeout_s=0.5) as sim,
        KisRestClient(kis_config(sim)) as rest,
    ):
        regs = registrations_for(symbols(sim, 3))
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, regs)
        async with running(ws):
            sim.faults.drop_pong(1.0)
            await rec.wait(
                lambda: ws.status.connects >= 2 and len(ws.status.subscribed) == len(regs), 15
            )
            restored = len(ws.status.subscribed)
    expected = (True, len(regs))
    assert expected == (ws.status.reconnects >= 1, restored)


@pytest.mark.slow
@pytest.mark.parametrize("abrupt", [False, True])
async def test_reconnect_restores_all_41_registrations_within_10_seconds(abrupt: bool) -> None:
    """After a forced disconnect (clean or TCP abort) all 41 registrations are back in < 10 s."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        codes = symbols(sim, 21)
        regs = [*registrations_for(codes[:20]), Registration("H0STCNT0", codes[20])]
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, regs, subscribe_interval_s=0.05)
        async with running(ws):
            sim.faults.disconnect(abrupt=abrupt)
            start = anyio.current_time()
            await rec.wait(lambda: ws.status.connects >= 2 and len(ws.status.subscribed) == 41, 10)
            elapsed = anyio.current_time() - start
            restored = len(ws.status.subscribed)
            await rec.wait(
                lambda: any(
                    f.connection == 2 and isinstance(f.message, DataFrame) for f in rec.frames
                ),
                10,
            )
    connection = [WsEventKind.CONNECTED, WsEventKind.RESTORED]
    expected = (41, True, [*connection, WsEventKind.DISCONNECTED, *connection])
    assert expected == (
        restored,
        elapsed < 10,
        rec.kinds()[:5],
    )


async def test_error_of_a_past_connection_is_cleared_once_restored() -> None:
    """The disconnect's error is the last error until the next connection has every
    registration back; then last_error is empty and RESTORED says the socket is healthy."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(symbols(sim, 2)))
        async with running(ws):
            sim.faults.disconnect()
            await rec.wait(lambda: ws.status.connects >= 2 and ws.status.last_error == "", 10)
        dropped = [e.detail for e in rec.events if e.kind is WsEventKind.DISCONNECTED]
    kinds = [WsEventKind.CONNECTED, WsEventKind.RESTORED, WsEventKind.DISCONNECTED]
    assert ("", [*kinds, *kinds[:2]], True) == (
        ws.status.last_error,
        rec.kinds()[:5],
        bool(dropped[0]),
    )


async def test_silence_raises_an_alarm_and_reconnects() -> None:
    """No message for 1 s while the market is open → a SILENCE event, a reconnect and data again."""
    async with simulator(ping_interval_s=0) as sim, KisRestClient(kis_config(sim)) as rest:
        rec = Recorder()
        ws = ws_client(
            rest.config, rest.auth, rec, registrations_for(symbols(sim, 3)), silence_s=1.0
        )
        async with running(ws):
            sim.faults.silence(30)
            await rec.wait(lambda: WsEventKind.SILENCE in rec.kinds(), 10)
            await rec.wait(
                lambda: (
                    ws.status.connects >= 2
                    and any(
                        f.connection == 2 and isinstance(f.message, DataFrame) for f in rec.frames
                    )
                ),
                15,
            )
    expected = (1, True)
    assert expected == (ws.status.silence_alarms, ws.status.reconnects >= 1)


async def test_silence_outside_market_hours_is_no_alarm() -> None:
    """With the market closed the watchdog stays quiet however long the silence."""
    async with simulator(ping_interval_s=0) as sim, KisRestClient(kis_config(sim)) as rest:
        rec = Recorder()
        ws = ws_client(
            rest.config,
            rest.auth,
            rec,
            registrations_for(symbols(sim, 2)),
            silence_s=0.3,
            market_open=lambda _now: False,
        )
        async with running(ws):
            sim.faults.silence(30)
            with anyio.move_on_after(1.5):
                await rec.wait(lambda: WsEventKind.SILENCE in rec.kinds(), 2)
    expected = (0, 1)
    assert expected == (ws.status.silence_alarms, ws.status.connects)


async def test_duplicate_session_is_refused_and_the_first_keeps_streaming() -> None:
    """A second session on the app key gets OPSP8996 (alarm, backoff); the first is unharmed."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        regs = registrations_for(symbols(sim, 2))
        first_rec, second_rec = Recorder(), Recorder()
        first = ws_client(rest.config, rest.auth, first_rec, regs)
        second = ws_client(rest.config, rest.auth, second_rec, regs)
        async with running(first), anyio.create_task_group() as tg:
            tg.start_soon(second.run)
            await second_rec.wait(lambda: WsEventKind.SESSION_IN_USE in second_rec.kinds(), 10)
            seen = len(first_rec.records("H0STCNT0"))
            await first_rec.wait(lambda: len(first_rec.records("H0STCNT0")) > seen, 10)
            tg.cancel_scope.cancel()
    expected = (1, 0, False)
    assert expected == (
        first.status.connects,
        first.status.reconnects,
        second.status.connected,
    )


@pytest.mark.slow
async def test_expired_approval_key_is_renewed_on_reconnect() -> None:
    """An approval key the server no longer knows is replaced and streaming resumes."""
    async with simulator(approval_key_lifetime_s=1) as sim, KisRestClient(kis_config(sim)) as rest:
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(symbols(sim, 2)))
        async with running(ws):
            await rec.wait(lambda: len(rec.frames) > 5, 10)
            await anyio.sleep(1.2)  # the approval key's market lifetime runs out (nothing to await)
            sim.faults.disconnect()
            await rec.wait(lambda: WsEventKind.APPROVAL_INVALID in rec.kinds(), 10)
            await rec.wait(
                lambda: any(
                    isinstance(f.message, DataFrame) and f.connection >= 3 for f in rec.frames
                ),
                15,
            )
            restored = len(ws.status.subscribed)
    expected = (2, 4)
    assert expected == (rest.auth.approval_keys_issued, restored)


async def test_session_logs_hold_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG logs of a REST+WS session hold no piece of the key, secret, token or approval key."""
    caplog.set_level(logging.DEBUG)
    async with simulator(ping_interval_s=0.2) as sim, KisRestClient(kis_config(sim)) as rest:
        await rest.inquire_price(symbols(sim, 1)[0])
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(symbols(sim, 2)))
        async with running(ws):
            await rec.wait(lambda: ws.status.pingpongs >= 2 and len(rec.frames) > 10, 10)
        secrets = [
            sim.app_key,
            sim.app_secret,
            rest.auth.current.value.reveal(),
            (await rest.auth.approval_key()).reveal(),
        ]
    # the simulator's own server-side logs (uvicorn, observer.sim) stand in for KIS: not ours
    ours = [r for r in caplog.records if not r.name.startswith(("uvicorn", "observer.sim"))]
    text = "\n".join(r.getMessage() + repr(vars(r)) for r in ours)
    pieces = {s[i : i + 12] for s in secrets for i in range(len(s) - 11)}  # truncated dumps too
    expected = ([], True)
    assert expected == (sorted(p for p in pieces if p in text), len(ours) > 20)


async def test_subscribe_and_unsubscribe_while_connected() -> None:
    """Live subscribe acks OPSP0000, a repeat OPSP0002 (harmless), release OPSP0001."""
    async with simulator() as sim, KisRestClient(kis_config(sim)) as rest:
        codes = symbols(sim, 3)
        rec = Recorder()
        ws = ws_client(rest.config, rest.auth, rec, registrations_for(codes[:2]))
        async with running(ws):
            with anyio.fail_after(10):
                await ws.subscribe("H0STCNT0", codes[2])
                await ws.subscribe("H0STCNT0", codes[2])
                after_subscribe = len(ws.status.subscribed)
                await ws.unsubscribe("H0STCNT0", codes[2])
            after_release = len(ws.status.subscribed)
            on_server = [len(session["registrations"]) for session in sim.hub.describe()]
    acks = [
        f.message.msg_cd
        for f in rec.frames
        if f.message is not None
        and not isinstance(f.message, DataFrame)
        and f.message.tr_key == codes[2]
    ]
    expected = (5, 4, [4], ["OPSP0000", "OPSP0002", "OPSP0001"])
    assert expected == (after_subscribe, after_release, on_server, acks)
