"""The KIS real-time WebSocket client (reference §6): subscribe, ack, PINGPONG, parse, reconnect.

``KisWsClient.run`` is one task in the caller's task group::

    async with anyio.create_task_group() as tg:
        await tg.start(ws.run)        # returns once connected and every subscription is acked
        ...
        tg.cancel_scope.cancel()      # shutdown is cancellation

Every text message is handed verbatim, with its local receive time (injected clock), to the
``on_frame`` callback (the raw journal) *before* anything else is done with it; the callback is
awaited, so a slow journal slows reading instead of growing a queue. Data frames are parsed
(``parse_message``): every record of multi-record frames, extra trailing fields kept (the
records that had them are counted, and each new width is logged once as ``ws_field_drift``),
short records counted as rejections. ``PINGPONG`` is echoed back as the same text.

The client wants a set of registrations (``tr_id``, ``tr_key``); more than 41 is refused with
``KisSubscriptionLimit`` before anything is sent. After any disconnect it reconnects with
capped exponential backoff plus jitter (``OPSP8996`` "already in use" backs off longer) and
restores every registration; once all are back with no refusal, ``status.last_error`` (the
error of the current connection, for the operator's at-a-glance view) is cleared and a
``RESTORED`` event says so (the errors before stay in the ``ws_error`` log). A silence
watchdog reconnects when no message arrived for ``silence_s`` while ``market_open(now)``
holds, and reports an alarm ``WsEvent``.

Stage logs (logger ``observer.kis.ws``): ``ws_worker_start``, ``ws_worker_stop``, ``ws_connect``
(attempt, result), ``ws_subscribe`` (request, ack), ``ws_first_message``.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Final, NamedTuple

import anyio
import anyio.abc
import msgspec
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from pipeline import Environment, Mode, Source, WsFrame

from ._auth import KisAuth
from ._clock import Clock, SystemClock
from ._config import KisConfig
from ._errors import (
    KisAuthRejected,
    KisConfigError,
    KisFrameError,
    KisResponseError,
    KisSessionInUse,
    KisSubscriptionLimit,
    KisTransportError,
    KisWsAckError,
    KisWsError,
)
from ._frames import ControlMessage, DataFrame, parse_message
from ._secrets import SecretMaskingFilter

__all__ = [
    "ORDERBOOK_TR",
    "TRADE_TR",
    "KisWsClient",
    "ReceivedFrame",
    "Registration",
    "WsBackoff",
    "WsEvent",
    "WsEventKind",
    "WsStatus",
    "registrations_for",
]

log = logging.getLogger("observer.kis.ws")
# websockets logs every frame at DEBUG, subscribe requests (with the approval key) included:
# give it a logger of ours that masks secrets before any handler sees the record.
# Its frame dumps are also truncated in the middle, which could show part of a key, so they are
# off (INFO): the raw journal holds every frame anyway.
_protocol_log = logging.getLogger("observer.kis.ws.protocol")
_protocol_log.addFilter(SecretMaskingFilter())
_protocol_log.setLevel(logging.INFO)

TRADE_TR: Final = "H0STCNT0"
ORDERBOOK_TR: Final = "H0STASP0"

ACK_SUBSCRIBED: Final = "OPSP0000"
ACK_UNSUBSCRIBED: Final = "OPSP0001"
ACK_ALREADY_SUBSCRIBED: Final = "OPSP0002"  # harmless: counts as success (common after reconnect)
ACK_UNSUBSCRIBE_NOT_FOUND: Final = "OPSP0003"
ACK_MAX_SUBSCRIBE: Final = "OPSP0008"
ACK_SESSION_IN_USE: Final = "OPSP8996"


class Registration(NamedTuple):
    """One (tr_id, tr_key) pair: the unit KIS counts against 41 per app key."""

    tr_id: str
    tr_key: str


def registrations_for(
    symbols: Iterable[str], tr_ids: Iterable[str] = (TRADE_TR, ORDERBOOK_TR)
) -> list[Registration]:
    """Trades and orderbook for each symbol, symbol-major (20 symbols → 40 registrations)."""
    trs = tuple(tr_ids)
    return [Registration(tr, symbol) for symbol in symbols for tr in trs]


class WsEventKind(enum.StrEnum):
    CONNECTED = "connected"
    #: every registration acked on this connection, none refused: earlier errors are history
    RESTORED = "restored"
    DISCONNECTED = "disconnected"
    SILENCE = "silence"  # alarm: no message for silence_s while the market is open
    SESSION_IN_USE = "session_in_use"  # alarm: OPSP8996
    SUBSCRIBE_FAILED = "subscribe_failed"  # alarm: an error ack (OPSP0008, invalid approval ...)
    APPROVAL_INVALID = "approval_invalid"


class WsEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something the operator should see: connection changes and alarms."""

    kind: WsEventKind
    at: dt.datetime  # UTC, injected clock
    detail: str = ""
    tr_id: str = ""
    tr_key: str = ""


class ReceivedFrame(msgspec.Struct, frozen=True, kw_only=True):
    """One WebSocket text message as received, with its parse."""

    text: str  # verbatim
    received_at: dt.datetime  # local receive time, UTC (injected clock)
    index: int  # 0-based count of messages received by this client, across connections
    connection: int  # 1-based connection number
    message: DataFrame | ControlMessage | None = None  # None when malformed
    error: str = ""  # KisFrameError reason when malformed

    def to_raw_event(
        self,
        *,
        environment: Environment,
        trading_day: dt.date,
        mode: Mode = Mode.SCALP,
        cycle_id: str = "",
        seq: int = 0,
    ) -> WsFrame:
        """The verbatim ``WsFrame`` record for the raw journal."""
        return WsFrame(
            seq=seq,
            mode=mode,
            source=Source.KIS_WS,
            environment=environment,
            trading_day=trading_day,
            receive_time=self.received_at,
            cycle_id=cycle_id,
            text=self.text,
        )


class WsStatus:
    """Live counters for the status/metrics endpoint (read them, never write them)."""

    def __init__(self) -> None:
        self.connected = False
        self.messages = 0
        self.data_frames = 0
        self.records = 0
        self.rejected_records: dict[str, int] = {}
        self.extra_field_records = 0  # records wider than their TR's known layout (KIS drift)
        self.malformed_frames = 0
        self.pingpongs = 0
        self.last_message_at: dt.datetime | None = None
        self.reconnects = 0
        self.connects = 0
        self.last_error = ""  # the current connection's error; cleared once it is restored
        self.subscribed: set[Registration] = set()
        self.silence_alarms = 0

    def as_metrics(self) -> dict[str, float | int | str]:
        """The metric names of the runbook: ws_connected, ws_messages, last_ws_message_ts, ..."""
        return {
            "ws_connected": int(self.connected),
            "ws_messages": self.messages,
            "last_ws_message_ts": self.last_message_at.timestamp() if self.last_message_at else 0.0,
            "ws_reconnect_count": self.reconnects,
            "ws_last_error": self.last_error,
            "ws_records": self.records,
            "ws_rejected_records": sum(self.rejected_records.values()),
            "ws_extra_field_records": self.extra_field_records,
            "ws_malformed_frames": self.malformed_frames,
            "ws_subscriptions": len(self.subscribed),
            "ws_silence_alarms": self.silence_alarms,
        }


class WsBackoff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Reconnect waits: ``min(max_s, initial_s * 2**(n-1))`` plus up to ``jitter`` of it."""

    initial_s: float = 0.5
    max_s: float = 10.0
    jitter: float = 0.5  # fraction of the wait added at random
    session_in_use_s: float = 30.0  # OPSP8996: another session holds the key; never hammer

    def wait(self, failures: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * 2.0 ** max(0, failures - 1))
        return base * (1.0 + self.jitter * rng.random())


class _Pending:
    __slots__ = ("ack", "event")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.ack: ControlMessage | None = None


FrameCallback = Callable[[ReceivedFrame], Awaitable[None]]
EventCallback = Callable[[WsEvent], Awaitable[None]]


def _always_open(_now: dt.datetime) -> bool:
    return True


@contextmanager
def _translate_ws_errors(what: str) -> Iterator[None]:
    """websockets/OS errors → ours (the one boundary for the WebSocket side)."""
    try:
        yield
    except websockets.exceptions.InvalidURI as exc:
        raise KisConfigError("ws_url", f"is not a WebSocket URL: {exc}") from exc
    except websockets.exceptions.ConnectionClosed as exc:
        raise KisTransportError(f"{what}: connection closed ({exc})") from exc
    except websockets.exceptions.WebSocketException as exc:
        raise KisTransportError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except TimeoutError as exc:
        raise KisTransportError(f"{what}: timed out") from exc
    except OSError as exc:
        raise KisTransportError(f"{what}: {type(exc).__name__}: {exc}") from exc


class KisWsClient:
    """KIS real-time client for one app key (KIS allows one session per key)."""

    def __init__(
        self,
        config: KisConfig,
        auth: KisAuth,
        *,
        registrations: Iterable[Registration] = (),
        on_frame: FrameCallback | None = None,
        on_event: EventCallback | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        market_open: Callable[[dt.datetime], bool] = _always_open,
        backoff: WsBackoff | None = None,
        silence_s: float | None = None,
        ack_timeout_s: float = 10.0,
        open_timeout_s: float = 10.0,
        subscribe_interval_s: float | None = None,
        ping_interval_s: float | None = None,
        max_message_bytes: int = 4 * 2**20,
    ) -> None:
        config.require_endpoints()
        self.config = config
        self.auth = auth
        self._on_frame = on_frame
        self._on_event = on_event
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._market_open = market_open
        self.backoff = backoff or WsBackoff()
        self.silence_s = silence_s if silence_s is not None else config.ws_silence_s
        self.ack_timeout_s = ack_timeout_s
        self.open_timeout_s = open_timeout_s
        # official samples pause 0.05 s (live) / 0.5 s (paper) between subscribe messages
        self.subscribe_interval_s = (
            subscribe_interval_s
            if subscribe_interval_s is not None
            else (0.5 if config.environment is Environment.PAPER else 0.05)
        )
        self.ping_interval_s = ping_interval_s
        self.max_message_bytes = max_message_bytes
        self.status = WsStatus()
        self._wanted: dict[Registration, None] = {}
        self._check_limit(list(registrations))
        for reg in registrations:
            self._wanted[Registration(*reg)] = None
        self._ws: ClientConnection | None = None
        self._approval: str = ""
        self._pending: dict[Registration, _Pending] = {}
        self._send_lock = anyio.Lock()
        self._index = 0
        self._last_message_mono = 0.0
        self._first_message_logged = False
        self._drift_logged: set[tuple[str, int]] = set()  # (tr_id, width) already logged
        self._session_error: Exception | None = None
        self._errors_noted = 0  # _note_error calls so far: did this restore note any?
        self._approval_invalid = False
        self._established = False
        self._connected_mono = 0.0

    # ------------------------------------------------------------------ public API

    @property
    def registrations(self) -> tuple[Registration, ...]:
        return tuple(self._wanted)

    def _check_limit(self, adding: list[Registration]) -> None:
        new = {Registration(*r) for r in adding} - self._wanted.keys()
        total = len(self._wanted) + len(new)
        if total > self.config.max_ws_registrations:
            raise KisSubscriptionLimit(
                f"{total} registrations requested; KIS allows {self.config.max_ws_registrations} "
                "per app key (one per tr_id and symbol: 20 symbols × trades+orderbook = 40)"
            )

    async def subscribe(self, tr_id: str, tr_key: str) -> None:
        """Register (tr_id, tr_key); when connected, wait for the ack (errors raise)."""
        reg = Registration(tr_id, tr_key)
        self._check_limit([reg])
        self._wanted[reg] = None
        if self._ws is not None:
            ack = await self._request(reg, "1")
            self._raise_for_ack(reg, ack)

    async def unsubscribe(self, tr_id: str, tr_key: str) -> None:
        """Release (tr_id, tr_key); when connected, wait for the ack."""
        reg = Registration(tr_id, tr_key)
        self._wanted.pop(reg, None)
        if self._ws is not None and reg in self.status.subscribed:
            ack = await self._request(reg, "2")
            if ack.msg_cd not in (ACK_UNSUBSCRIBED, ACK_UNSUBSCRIBE_NOT_FOUND):
                self._raise_for_ack(reg, ack)
            self.status.subscribed.discard(reg)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, subscribe, read; reconnect forever until cancelled.

        ``task_status.started()`` fires once the first connection is up and every registration
        was answered. Fatal errors (credentials rejected, bad URL) end the task with the error.
        """
        log.info(
            "ws_worker_start",
            extra={
                "registrations": len(self._wanted),
                "environment": self.config.environment.value,
            },
        )
        failures = 0
        started = False
        try:
            while True:
                session_in_use = False
                try:
                    await self._session(task_status if not started else None)
                except (KisAuthRejected, KisConfigError):
                    raise
                except KisSessionInUse as exc:
                    session_in_use = True
                    self._note_error(exc)
                    await self._emit(WsEventKind.SESSION_IN_USE, str(exc))
                except (KisTransportError, KisWsError, KisResponseError) as exc:
                    self._note_error(exc)
                finally:
                    if self._ws is not None or self.status.connected:
                        await self._emit(WsEventKind.DISCONNECTED, self.status.last_error)
                    self._ws = None
                    self.status.connected = False
                    self.status.subscribed.clear()
                    self._fail_pending()
                if self._established:
                    started = True
                    failures = 0
                failures += 1
                wait = self.backoff.wait(failures, self._rng)
                if session_in_use:
                    wait = max(wait, self.backoff.session_in_use_s)
                log.info(
                    "ws_reconnect_wait", extra={"wait_s": round(wait, 3), "failures": failures}
                )
                await self._clock.sleep(wait)
                self.status.reconnects += 1
        finally:
            log.info(
                "ws_worker_stop",
                extra={"messages": self.status.messages, "reconnects": self.status.reconnects},
            )

    # ------------------------------------------------------------------ one connection

    async def _session(self, task_status: anyio.abc.TaskStatus[None] | None) -> None:
        self._established = False
        attempt = self.status.connects + 1
        approval = await self.auth.approval_key(fresh=self._approval_invalid)
        self._approval_invalid = False
        self._approval = approval.reveal()
        try:
            with _translate_ws_errors("connect"):
                ws = await ws_connect(
                    self.config.ws_url,
                    open_timeout=self.open_timeout_s,
                    ping_interval=self.ping_interval_s,
                    ping_timeout=self.ping_interval_s,
                    close_timeout=2.0,
                    max_size=self.max_message_bytes,
                    compression=None,
                    proxy=None,
                    logger=_protocol_log,
                )
        except KisTransportError as exc:
            log.warning(
                "ws_connect", extra={"attempt": attempt, "result": "error", "error": str(exc)}
            )
            raise
        self.status.connects += 1
        log.info("ws_connect", extra={"attempt": attempt, "result": "ok"})
        try:
            self._ws = ws
            self.status.connected = True
            self._last_message_mono = self._clock.monotonic()
            self._first_message_logged = False
            self._connected_mono = self._clock.monotonic()
            self._session_error = None
            await self._emit(WsEventKind.CONNECTED, f"connection {self.status.connects}")
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._reader, ws, tg.cancel_scope)
                tg.start_soon(self._watchdog, tg.cancel_scope)
                noted = self._errors_noted
                try:
                    await self._restore()
                except (KisTransportError, KisWsError) as exc:
                    if self._session_error is None:
                        self._session_error = exc
                    tg.cancel_scope.cancel()
                else:
                    self._established = True
                    if self._errors_noted == noted:  # nothing refused: the past errors are past
                        self.status.last_error = ""
                        await self._emit(WsEventKind.RESTORED, f"connection {self.status.connects}")
                    if task_status is not None:
                        task_status.started()
                        task_status = None
            if self._session_error is not None:
                raise self._session_error
            raise KisTransportError("session ended")
        finally:
            self._ws = None
            with anyio.CancelScope(shield=True):
                await ws.close()

    async def _restore(self) -> None:
        """Send every wanted registration (paced), then wait for all acks."""
        wanted = list(self._wanted)
        waits: list[tuple[Registration, _Pending]] = []
        for n, reg in enumerate(wanted):
            if n:
                await self._clock.sleep(self.subscribe_interval_s)
            waits.append((reg, await self._send_request(reg, "1")))
        for reg, pending in waits:
            ack = await self._wait_ack(reg, pending)
            try:
                self._raise_for_ack(reg, ack)
            except KisWsError as exc:
                if self._approval_invalid:
                    raise  # reconnect with a fresh approval key
                # OPSP0008 or an error for this key alone: keep streaming the rest (alarm raised)
                self._note_error(exc)

    async def _request(self, reg: Registration, tr_type: str) -> ControlMessage:
        pending = await self._send_request(reg, tr_type)
        return await self._wait_ack(reg, pending)

    async def _send_request(self, reg: Registration, tr_type: str) -> _Pending:
        ws = self._ws
        if ws is None:
            raise KisTransportError("not connected")
        pending = _Pending()
        self._pending[reg] = pending
        message = json.dumps(
            {
                "header": {
                    "approval_key": self._approval,
                    "custtype": self.config.custtype,
                    "tr_type": tr_type,
                    "content-type": "utf-8",
                },
                "body": {"input": {"tr_id": reg.tr_id, "tr_key": reg.tr_key}},
            }
        )
        log.info(
            "ws_subscribe",
            extra={
                "stage": "request",
                "tr_id": reg.tr_id,
                "tr_key": reg.tr_key,
                "tr_type": tr_type,
            },
        )
        async with self._send_lock:
            with _translate_ws_errors("send subscribe"):
                await ws.send(message)
        return pending

    async def _wait_ack(self, reg: Registration, pending: _Pending) -> ControlMessage:
        with anyio.move_on_after(self.ack_timeout_s):
            await pending.event.wait()
        if self._pending.get(reg) is pending:
            del self._pending[reg]
        if pending.ack is None:
            if self._session_error is not None:
                raise self._session_error
            raise KisTransportError(f"no ack for {reg.tr_id}/{reg.tr_key} in {self.ack_timeout_s}s")
        return pending.ack

    def _raise_for_ack(self, reg: Registration, ack: ControlMessage) -> None:
        if ack.msg_cd in (ACK_SUBSCRIBED, ACK_ALREADY_SUBSCRIBED) or (
            ack.rt_cd == "0" and not ack.msg1.upper().startswith("UNSUB")
        ):
            self.status.subscribed.add(reg)
            return
        if ack.msg_cd == ACK_MAX_SUBSCRIBE:
            raise KisSubscriptionLimit(f"{reg.tr_id}/{reg.tr_key}: {ack.msg_cd} {ack.msg1}")
        raise KisWsAckError(ack.msg_cd, ack.msg1, tr_id=reg.tr_id, tr_key=reg.tr_key)

    def _fail_pending(self) -> None:
        for pending in self._pending.values():
            pending.event.set()
        self._pending.clear()

    # ------------------------------------------------------------------ reading

    async def _reader(self, ws: ClientConnection, scope: anyio.CancelScope) -> None:
        try:
            with _translate_ws_errors("receive"):
                async for raw in ws:
                    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                    await self._handle(text)
            raise KisTransportError("connection closed by server")
        except (KisTransportError, KisWsError) as exc:
            self._session_error = exc
            self._fail_pending()
            scope.cancel()

    async def _handle(self, text: str) -> None:
        now = self._clock.now()
        self._last_message_mono = self._clock.monotonic()
        status = self.status
        status.messages += 1
        status.last_message_at = now
        if not self._first_message_logged:
            self._first_message_logged = True
            log.info(
                "ws_first_message",
                extra={
                    "connection": status.connects,
                    "after_connect_s": round(self._last_message_mono - self._connected_mono, 3),
                },
            )
        message: DataFrame | ControlMessage | None
        error = ""
        try:
            message = parse_message(text)
        except KisFrameError as exc:
            message, error = None, exc.reason
            status.malformed_frames += 1
            log.warning("ws_malformed_frame", extra={"reason": exc.reason})
        frame = ReceivedFrame(
            text=text,
            received_at=now,
            index=self._index,
            connection=status.connects,
            message=message,
            error=error,
        )
        self._index += 1
        if self._on_frame is not None:
            await self._on_frame(frame)  # the raw journal sees it first, verbatim
        if isinstance(message, DataFrame):
            status.data_frames += 1
            status.records += len(message.records)
            for rejection in message.rejections:
                status.rejected_records[rejection.reason] = (
                    status.rejected_records.get(rejection.reason, 0) + 1
                )
            if message.extra_fields:
                self._count_drift(message)
        elif isinstance(message, ControlMessage):
            await self._control(message, text)

    def _count_drift(self, message: DataFrame) -> None:
        self.status.extra_field_records += len(message.records)
        if (message.tr_id, message.width) not in self._drift_logged:
            self._drift_logged.add((message.tr_id, message.width))
            log.warning(
                "ws_field_drift",
                extra={
                    "tr_id": message.tr_id,
                    "width": message.width,
                    "extra_fields": message.extra_fields,
                },
            )

    async def _control(self, message: ControlMessage, text: str) -> None:
        if message.is_pingpong:
            self.status.pingpongs += 1
            ws = self._ws
            if ws is not None:
                async with self._send_lock:
                    with _translate_ws_errors("pong"):
                        await ws.send(text)  # the same text back (python-kis, official sample)
            return
        if message.msg_cd == ACK_SESSION_IN_USE:
            raise KisSessionInUse(
                message.msg_cd, message.msg1, tr_id=message.tr_id, tr_key=message.tr_key
            )
        reg = Registration(message.tr_id, message.tr_key)
        log.info(
            "ws_subscribe",
            extra={
                "stage": "ack",
                "tr_id": message.tr_id,
                "tr_key": message.tr_key,
                "msg_cd": message.msg_cd,
                "msg1": message.msg1.strip(),
            },
        )
        if (
            "APPROVAL" in message.msg1.upper()
        ):  # invalid approval : NOT FOUND / INVALID APPROVAL KEY
            self._approval_invalid = True
            await self._emit(WsEventKind.APPROVAL_INVALID, message.msg1, reg)
        elif message.rt_cd not in ("0", "") and message.msg_cd != ACK_ALREADY_SUBSCRIBED:
            await self._emit(
                WsEventKind.SUBSCRIBE_FAILED, f"{message.msg_cd} {message.msg1.strip()}", reg
            )
        pending = self._pending.pop(reg, None)
        if pending is not None:
            pending.ack = message
            pending.event.set()
        elif self._approval_invalid:
            raise KisWsError(f"approval key rejected: {message.msg1.strip()}")

    async def _watchdog(self, scope: anyio.CancelScope) -> None:
        step = max(0.01, min(1.0, self.silence_s / 4))
        while True:
            await self._clock.sleep(step)
            silent = self._clock.monotonic() - self._last_message_mono
            if silent >= self.silence_s and self._market_open(self._clock.now()):
                self.status.silence_alarms += 1
                detail = f"no message for {silent:.1f}s while the market is open"
                log.warning("ws_silence", extra={"silent_s": round(silent, 3)})
                await self._emit(WsEventKind.SILENCE, detail)
                self._session_error = KisTransportError(f"silence: {detail}")
                self._fail_pending()
                scope.cancel()
                return

    # ------------------------------------------------------------------ helpers

    def _note_error(self, exc: BaseException) -> None:
        self._errors_noted += 1
        self.status.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("ws_error", extra={"error": self.status.last_error})

    async def _emit(self, kind: WsEventKind, detail: str, reg: Registration | None = None) -> None:
        if self._on_event is None:
            return
        await self._on_event(
            WsEvent(
                kind=kind,
                at=self._clock.now(),
                detail=detail,
                tr_id=reg.tr_id if reg else "",
                tr_key=reg.tr_key if reg else "",
            )
        )
