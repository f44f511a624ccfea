"""The running simulator: one loopback port for REST, WebSocket and admin, under uvicorn.

``serve_simulator(config)`` is an async context manager that starts the server inside the
caller's task, on a free port by default, and stops it on exit (cancellation). ``run_simulator``
is the same as a task for ``TaskGroup.start``. Starting and stopping take milliseconds, but
for the warm-up of a mid-day start (every symbol computed up to the start time: about ten
microseconds a symbol and market second, 2,500 symbols from 09:00 to 15:00 in some 20 s).

uvicorn's own ``serve()`` is not used: it installs signal handlers, which belong to whoever
embeds the simulator. Its ``startup`` (bind on our socket) is, and shutdown is done here
directly (close listeners, ask connections to close, wait at most a second).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from pipeline import KST

from ._auth import AuthState, mask
from ._clock import SimClock
from ._config import SimConfig
from ._faults import FaultKind, FaultSpec
from ._market import SessionHours, SimMarket
from ._rest import rest_routes
from ._truth import FaultRecord, GroundTruth
from ._ws import WsHub

__all__ = [
    "SimFaults",
    "SimStartError",
    "Simulator",
    "default_trading_day",
    "run_simulator",
    "serve_simulator",
]

_log = logging.getLogger("observer.sim")


class SimStartError(OSError):
    """The simulator cannot start: its port is taken or not ours, or its truth log cannot be
    written (the message names the address or the file)."""


def default_trading_day(today: dt.date | None = None) -> dt.date:
    """Today in KST, or the last weekday before it on a weekend (holidays are not checked)."""
    day = today or dt.datetime.now(KST).date()
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


class SimFaults:
    """Inject faults now (``inject`` / the named helpers) or at a market time (``spec.at``)."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self.pending: list[FaultSpec] = []
        self._http_5xx: list[int] = []  # statuses still to serve
        self._latency_s = 0.0
        self._latency_until: dt.datetime | None = None
        self._latency_count = 0

    # -- entry points --------------------------------------------------------------------

    def inject(self, spec: FaultSpec) -> FaultRecord | None:
        """Fire ``spec`` now, or schedule it when it has ``at``; returns the record when fired."""
        if spec.at is not None:
            self.pending.append(spec)
            self.pending.sort(key=lambda f: f.at or dt.time())
            return None
        return self._fire(spec)

    def disconnect(self, session: int | None = None, *, abrupt: bool = False) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.DISCONNECT, session=session, abrupt=abrupt))

    def silence(self, seconds: float, session: int | None = None) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.SILENCE, duration_s=seconds, session=session))

    def malformed_frames(self, count: int = 1, session: int | None = None) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.MALFORMED_FRAME, count=count, session=session))

    def short_frames(self, count: int = 1, session: int | None = None) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.SHORT_FRAME, count=count, session=session))

    def long_frames(
        self, count: int = 1, extra_fields: int = 3, session: int | None = None
    ) -> FaultRecord:
        return self._fire(
            FaultSpec(
                kind=FaultKind.LONG_FRAME, count=count, extra_fields=extra_fields, session=session
            )
        )

    def http_5xx(self, count: int = 1, status: int = 502) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.HTTP_5XX, count=count, status=status))

    def latency(self, ms: int, *, seconds: float = 0.0, count: int = 0) -> FaultRecord:
        return self._fire(
            FaultSpec(kind=FaultKind.LATENCY, latency_ms=ms, duration_s=seconds, count=count)
        )

    def revoke_tokens(self) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.REVOKE_TOKENS))

    def expire_tokens(self) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.EXPIRE_TOKENS))

    def rate_limit_burst(self, seconds: float) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.RATE_LIMIT_BURST, duration_s=seconds))

    def drop_pong(self, seconds: float, session: int | None = None) -> FaultRecord:
        return self._fire(FaultSpec(kind=FaultKind.DROP_PONG, duration_s=seconds, session=session))

    # -- hooks the servers call ----------------------------------------------------------

    def take_http_5xx(self) -> int:
        """Status to answer instead of serving, or 0."""
        if self._http_5xx:
            return self._http_5xx.pop(0)
        return 0

    def take_latency_s(self) -> float:
        if self._latency_s <= 0:
            return 0.0
        if self._latency_count > 0:
            self._latency_count -= 1
            return self._latency_s
        if self._latency_until is not None and self._sim.clock.now() < self._latency_until:
            return self._latency_s
        self._latency_s = 0.0
        return 0.0

    def fire_due(self) -> None:
        """Fire scheduled faults whose market time has come."""
        if not self.pending:
            return
        now = self._sim.clock.now_kst()
        day = self._sim.market.day
        while self.pending:
            at = self.pending[0].at
            assert at is not None
            if dt.datetime.combine(day, at, tzinfo=KST) > now:
                break
            self._fire(self.pending.pop(0))

    # -- the switch ------------------------------------------------------------------------

    def _fire(self, spec: FaultSpec) -> FaultRecord:
        sim = self._sim
        now = sim.clock.now()
        until = now + dt.timedelta(seconds=spec.duration_s)
        hub = sim.hub
        detail: dict[str, Any] = {}
        kind = spec.kind
        if kind is FaultKind.DISCONNECT:
            detail["sessions"] = hub.disconnect(spec.session, abrupt=spec.abrupt)
            detail["abrupt"] = spec.abrupt
        elif kind is FaultKind.SILENCE:
            detail["sessions"] = hub.silence(spec.session, until)
            detail["until"] = until.astimezone(KST).isoformat()
        elif kind in (FaultKind.MALFORMED_FRAME, FaultKind.SHORT_FRAME, FaultKind.LONG_FRAME):
            detail["sessions"] = hub.damage_frames(
                spec.session, kind.value, spec.count, spec.extra_fields
            )
            detail["count"] = spec.count
        elif kind is FaultKind.HTTP_5XX:
            self._http_5xx.extend([spec.status] * spec.count)
            detail.update(count=spec.count, status=spec.status)
        elif kind is FaultKind.LATENCY:
            self._latency_s = spec.latency_ms / 1000
            self._latency_count = spec.count
            self._latency_until = until if spec.duration_s > 0 else None
            detail.update(latency_ms=spec.latency_ms, count=spec.count, seconds=spec.duration_s)
        elif kind is FaultKind.REVOKE_TOKENS:
            detail["tokens"] = sim.auth.revoke_all()
        elif kind is FaultKind.EXPIRE_TOKENS:
            detail["tokens"] = sim.auth.expire_all()
        elif kind is FaultKind.RATE_LIMIT_BURST:
            sim.auth.burst_until_wall = sim.auth.wall() + sim.clock.to_wall(spec.duration_s)
            detail["seconds"] = spec.duration_s
        elif kind is FaultKind.DROP_PONG:
            detail["sessions"] = hub.ignore_pong(spec.session, until)
            detail["until"] = until.astimezone(KST).isoformat()
        _log.info("sim_fault kind=%s detail=%s", kind.value, detail)
        return sim.truth.record_fault(kind.value, now, **detail)


class Simulator:
    """Handle on a running simulator: URLs, credentials, clock, market, truth, faults."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        # (``start_now``: today in Seoul, weekend or not: the clock reads the wall's day)
        day = config.trading_day or (
            dt.datetime.now(KST).date() if config.start_now else default_trading_day()
        )
        self.clock = SimClock(dt.datetime.combine(day, self.start_time(), tzinfo=KST), config.speed)
        try:
            self.market = SimMarket(
                config.seed,
                config.n_symbols,
                day,
                vi_threshold_pct=config.vi_threshold_pct,
                vi_window_s=config.vi_window_s,
                vi_duration_s=config.vi_duration_s,
                jumps_per_session=config.jumps_per_session,
                session_hours={
                    day: SessionHours.of(*hours) for day, hours in config.session_hours.items()
                },
                halted=config.halted_symbols,
            )
        except ValueError as exc:  # a halted symbol the universe lacks
            raise SimStartError(str(exc)) from None
        try:
            self.truth = GroundTruth(
                day,
                max_records=config.truth_max_records,
                jsonl=config.truth_jsonl,
                hours=self.market.hours,
            )
        except OSError as exc:
            raise SimStartError(
                f"cannot write the truth log {config.truth_jsonl}: {exc.strerror}"
            ) from exc
        self.auth = AuthState(config, self.clock)
        self.hub = WsHub(self)
        self.faults = SimFaults(self)
        self.host = config.host
        self.port = 0
        self.rest_requests = 0
        self.warm_up_done = not config.warm_up

    def start_time(self) -> dt.time:
        """The KST time of day the market clock starts at: ``config.start_time``, or with
        ``start_now`` the wall clock's, read each time (the warm-up takes a while)."""
        if self.config.start_now:
            return dt.datetime.now(KST).time()
        return self.config.start_time

    def __repr__(self) -> str:
        return (
            f"Simulator(rest_url={self.rest_url!r}, app_key={mask(self.app_key)!r}, "
            f"now={self.clock.now_kst().isoformat()})"
        )

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/tryitout"

    @property
    def master_url(self) -> str:
        return f"{self.rest_url}/sim/v1/master"

    @property
    def app_key(self) -> str:
        return self.auth.app_key

    @property
    def app_secret(self) -> str:
        return self.auth.app_secret

    def sync_day(self) -> None:
        """Follow the clock onto another day (the market and truth are per day)."""
        day = self.clock.now_kst().date()
        if day != self.market.day:
            self.market.set_day(day)

    def set_time(self, day: dt.date, at: dt.time) -> None:
        """Jump the market clock (the publisher does not replay the skipped seconds)."""
        self.clock.set_day_time(day, at)
        self.sync_day()
        self.hub.reset_publisher()

    def market_time(self, second: int) -> dt.datetime:
        return self.market.time_of(second)


async def _stop(server: uvicorn.Server) -> None:
    for srv in server.servers:
        srv.close()
    state = server.server_state
    for conn in list(state.connections):
        conn.shutdown()
    with anyio.move_on_after(1.0):
        # uvicorn exposes no event for 'all connections gone'; poll briefly, bounded above
        while state.connections or state.tasks:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    for task in list(state.tasks):
        task.cancel()
    with anyio.move_on_after(0.5):
        for srv in server.servers:
            await srv.wait_closed()


async def run_simulator(
    config: SimConfig | None = None,
    *,
    task_status: TaskStatus[Simulator] = anyio.TASK_STATUS_IGNORED,
    on_warm_up: Callable[[int, int], None] | None = None,
) -> None:
    """Serve until cancelled; reports the ``Simulator`` once listening.

    With ``config.warm_up`` every symbol is computed up to the start time first, in a worker
    thread, before the port listens and the market clock starts: a mid-day start then opens
    at its start time with its morning behind it, rather than computing the morning while
    its clock already runs (which starved the first minutes' requests and went silent on the
    socket). ``on_warm_up(done, total)`` is called from that thread as symbols are done.
    """
    config = config or SimConfig()
    sim = Simulator(config)
    app = Starlette(routes=[*rest_routes(sim), WebSocketRoute("/{path:path}", sim.hub.serve)])
    if config.warm_up:
        await _warm_up(sim, on_warm_up)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise SimStartError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror}"
        ) from exc
    sim.port = sock.getsockname()[1]
    uv_config = uvicorn.Config(
        app,
        http="h11",
        ws="websockets-sansio",
        lifespan="off",
        log_config=None,
        access_log=False,
        ws_max_size=64 * 1024 * 1024,
        ws_ping_interval=None,
        ws_ping_timeout=None,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(uv_config)
    uv_config.load()
    server.lifespan = uv_config.lifespan_class(uv_config)
    try:
        await server.startup(sockets=[sock])
        async with anyio.create_task_group() as tg:
            tg.start_soon(sim.hub.publish_forever)
            tg.start_soon(_fault_schedule, sim)
            # the market starts at the configured instant when the server is ready, not before
            sim.clock.set_day_time(sim.market.day, sim.start_time())
            for spec in config.faults:
                sim.faults.inject(spec)
            _log.info("sim_started rest_url=%s app_key=%s", sim.rest_url, mask(sim.app_key))
            task_status.started(sim)
            await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(server)
            sock.close()
            sim.truth.close()


async def _warm_up(sim: Simulator, on_progress: Callable[[int, int], None] | None) -> None:
    """Compute every symbol up to the configured start time, in a worker thread (cancellable:
    the thread stops at its next step of symbols)."""
    start = dt.datetime.combine(sim.market.day, sim.start_time(), tzinfo=KST)
    target = sim.market.second_of(start)
    stop = threading.Event()
    try:
        if target >= 0:
            began = time.monotonic()
            done = await anyio.to_thread.run_sync(
                functools.partial(sim.market.warm, target, stop, progress=on_progress),
                abandon_on_cancel=True,
            )
            _log.info(
                "sim_warm_up symbols=%d second=%d took_s=%.1f",
                done,
                target,
                time.monotonic() - began,
            )
        sim.warm_up_done = True
    finally:
        stop.set()


async def _fault_schedule(sim: Simulator) -> None:
    while True:
        sim.faults.fire_due()
        await anyio.sleep(0.05)


@asynccontextmanager
async def serve_simulator(
    config: SimConfig | None = None, *, on_warm_up: Callable[[int, int], None] | None = None
) -> AsyncIterator[Simulator]:
    """Run a simulator for the duration of the ``async with`` block (``run_simulator``)."""
    async with anyio.create_task_group() as tg:
        sim = await tg.start(functools.partial(run_simulator, config, on_warm_up=on_warm_up))
        try:
            yield sim
        finally:
            tg.cancel_scope.cancel()
