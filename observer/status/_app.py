"""The status endpoint: a small Starlette app on loopback, served by uvicorn in our task group.

Routes::

    GET /v1/session/status     state, session, cycles, loss figure
    GET /v1/metrics/quote      exactly the runbook keys (QUOTE_METRIC_KEYS)
    GET /v1/quotes/{symbol}    latest archived snapshot of a symbol, with its ``source``
                               (any code the run may hold: 404 when it holds none, 400 only
                               for what no code is, empty or over 32 characters or unprintable)
    GET /metrics               Prometheus text (own registry, read from RunStatus on scrape)

The Prometheus registry is our own ``CollectorRegistry`` (never the process-global one), fed by
one custom collector that reads ``RunStatus`` at scrape time, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import uvicorn
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline import encode

from ._state import RunStatus

__all__ = ["build_registry", "serve_status", "status_app"]

#: no narrower than any ``validation.symbol_pattern`` may admit (an ETN's ``Q500001``): the
#: lookup decides (404), this only bounds what is looked up and echoed
_MAX_SYMBOL = 32
_log = logging.getLogger(__name__)


class _StatusCollector(Collector):
    def __init__(self, status: RunStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        s = self._status
        by_mode = [
            ("observer_cycles", "Collection cycles completed", s.cycles),
            ("observer_observations_expected", "Observations expected", s.expected),
            ("observer_observations_archived", "Observations archived", s.archived),
            ("observer_observations_deduplicated", "Deliberate duplicates", s.deduplicated),
            (
                "observer_observations_lost",
                "Observations lost (expected - archived - dedup)",
                s.lost,
            ),
        ]
        for name, doc, values in by_mode:
            family = CounterMetricFamily(name, doc, labels=["mode"])
            for mode, value in sorted(values.items()):
                family.add_metric([mode], value)
            yield family
        failed = CounterMetricFamily(
            "observer_observations_failed", "Failed by cause", labels=["cause"]
        )
        for cause, value in sorted(s.failed.items()):
            failed.add_metric([cause], value)
        yield failed
        yield CounterMetricFamily("observer_raw_events", "Raw events journaled", value=s.raw_events)
        yield CounterMetricFamily("observer_snapshots", "Snapshots archived", value=s.snapshots)
        yield GaugeMetricFamily("observer_loss_rate", "Loss rate so far", value=s.loss_rate)
        yield CounterMetricFamily(
            "observer_ws_messages",
            "WebSocket messages received: data frames and control (acks, PINGPONG, malformed)",
            value=s.ws_messages,
        )
        yield CounterMetricFamily(
            "observer_rest_fallbacks",
            "Scalp observations asked over REST for a stale socket (failed ones included)",
            value=s.rest_fallbacks,
        )
        yield CounterMetricFamily(
            "observer_ws_reconnects", "WebSocket reconnections", value=s.ws_reconnect_count
        )
        yield CounterMetricFamily(
            "observer_ws_extra_field_records",
            "WebSocket records with fields beyond their TR's known layout (KIS drift)",
            value=s.ws_extra_field_records,
        )
        yield GaugeMetricFamily("observer_ws_connected", "WebSocket up", value=int(s.ws_connected))
        yield GaugeMetricFamily(
            "observer_ws_heartbeat_fresh",
            "A frame arrived recently",
            value=int(s.heartbeat_fresh()),
        )
        yield GaugeMetricFamily(
            "observer_ws_cached_symbols",
            "Symbols with socket state",
            value=s.cached_symbols,
        )
        used = GaugeMetricFamily("observer_stream_buffer_used", "Items buffered", labels=["stream"])
        size = GaugeMetricFamily(
            "observer_stream_buffer_size", "Buffer capacity", labels=["stream"]
        )
        waiting = GaugeMetricFamily(
            "observer_stream_senders_waiting", "Senders blocked now", labels=["stream"]
        )
        sends = CounterMetricFamily("observer_stream_sends", "Items sent", labels=["stream"])
        blocked = CounterMetricFamily(
            "observer_stream_blocked_sends", "Sends that waited on a full buffer", labels=["stream"]
        )
        blocked_s = CounterMetricFamily(
            "observer_stream_blocked_seconds", "Time senders waited", labels=["stream"]
        )
        for name, stats in sorted(s.streams.items()):
            if stats.statistics is not None:
                live = stats.statistics()
                used.add_metric([name], live.current_buffer_used)
                size.add_metric([name], float(live.max_buffer_size))
                waiting.add_metric([name], live.tasks_waiting_send)
            sends.add_metric([name], stats.sends)
            blocked.add_metric([name], stats.blocked_sends)
            blocked_s.add_metric([name], stats.blocked_seconds)
        yield from (used, size, waiting, sends, blocked, blocked_s)


def build_registry(status: RunStatus) -> CollectorRegistry:
    """A fresh registry (not the global one) exporting ``status``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StatusCollector(status))
    return registry


def status_app(status: RunStatus) -> Starlette:
    """The Starlette app serving ``status``."""
    registry = build_registry(status)

    async def session_status(request: Request) -> JSONResponse:
        return JSONResponse(status.session_status())

    async def quote_metrics(request: Request) -> JSONResponse:
        return JSONResponse(status.quote_metrics())

    async def quote(request: Request) -> Response:
        symbol = request.path_params["symbol"]
        if not (0 < len(symbol) <= _MAX_SYMBOL and symbol.isprintable()):
            return JSONResponse(
                {"error": f"symbol must be a code of 1 to {_MAX_SYMBOL} printable characters"},
                status_code=400,
            )
        snapshot = status.latest.get(symbol)
        if snapshot is None:
            return JSONResponse({"error": f"no snapshot of {symbol} yet"}, status_code=404)
        return Response(encode(snapshot), media_type="application/json")

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/v1/session/status", session_status),
            Route("/v1/metrics/quote", quote_metrics),
            Route("/v1/quotes/{symbol}", quote),
            Route("/metrics", metrics),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: shutdown is our cancellation, not its SIGINT."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_status(
    status: RunStatus,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the status app on ``host:port`` until cancelled; reports the bound port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from observer._errors import ConfigError

        raise ConfigError(
            f"status endpoint: cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another --status-port or pass --no-status"
        ) from None
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(
        status_app(status), log_config=None, access_log=False, lifespan="off", log_level="warning"
    )
    server = _Server(config)

    async def run_server() -> None:
        # Shielded: a cancelled serve() would leave its sockets open; we stop it by should_exit.
        with anyio.CancelScope(shield=True):
            await server.serve(sockets=[sock])

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            try:
                with anyio.fail_after(10):
                    while not server.started:  # noqa: ASYNC110 - uvicorn exposes no event for it
                        await anyio.sleep(0.005)
                # the log says where it listens (port 0 picks one; --quiet prints nothing)
                _log.info("status_listening", extra={"host": host, "port": bound})
                task_status.started(bound)
                await anyio.sleep_forever()
            finally:
                server.should_exit = True
    finally:
        sock.close()
