"""The scalp socket: the KIS WebSocket client wired to the journal and the status.

Every message the client receives goes, verbatim and first, into the raw journal as a
``WsFrame`` (``Journal.append`` awaits the bounded archive stream, so a slow archive slows
reading rather than growing a queue). Connection events keep ``RunStatus`` and the scalp
collector's view of the socket (``socket_up``: down means every symbol falls back to REST)
current.

The client runs on the collector's clock: in ``--simulate`` the silence watchdog and the
reconnect backoff count market seconds, like the simulator's faults do.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from pipeline import Environment

from .._clock import Clock
from ..status import RunStatus
from ._journal import Journal
from ._scalp import ScalpCollector

if TYPE_CHECKING:  # pragma: no cover
    from observer.kis import KisAuth, KisConfig, ReceivedFrame, WsEvent

__all__ = ["run_socket"]

_log = logging.getLogger("observer.collect.socket")


async def run_socket(
    *,
    kis: KisConfig,
    auth: KisAuth,
    clock: Clock,
    scalp: ScalpCollector,
    journal: Journal,
    status: RunStatus,
    trading_day: dt.date,
    environment: Environment,
    market_open: Callable[[dt.datetime], bool],
    connect_wait_s: float = 10.0,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run the socket until cancelled; ready once subscribed (or after ``connect_wait_s``)."""
    from observer.kis import KisWsClient, WsEventKind, registrations_for

    connected = anyio.Event()

    async def on_frame(frame: ReceivedFrame) -> None:
        status.ws_messages += 1
        status.last_ws_message = frame.received_at
        status.ws_extra_field_records = client.status.extra_field_records
        await journal.append(frame.to_raw_event(environment=environment, trading_day=trading_day))

    async def on_event(event: WsEvent) -> None:
        if event.kind is WsEventKind.CONNECTED:
            status.ws_connected = True
            scalp.socket_up = True
            connected.set()
        elif event.kind is WsEventKind.RESTORED:  # healthy again: the last error is history
            status.ws_last_error = None
        elif event.kind is WsEventKind.DISCONNECTED:
            status.ws_connected = False
            scalp.socket_up = False
            status.ws_last_error = event.detail or status.ws_last_error
        else:
            status.ws_last_error = f"{event.kind}: {event.detail}"
        status.ws_reconnect_count = client.status.reconnects
        _log.info("ws_event", extra={"kind": str(event.kind), "detail": event.detail})

    client = KisWsClient(
        kis,
        auth,
        registrations=registrations_for(scalp.symbols),
        on_frame=on_frame,
        on_event=on_event,
        clock=clock,
        market_open=market_open,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.run)
        with anyio.move_on_after(connect_wait_s):
            await connected.wait()
        if not connected.is_set():
            _log.warning("ws_not_ready", extra={"waited_s": connect_wait_s})
        task_status.started()
