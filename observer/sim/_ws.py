"""The simulator's WebSocket side: sessions, subscriptions, acks, PINGPONG and the publisher.

Protocol (reference §6): one session per app key (a second one gets ``OPSP8996`` with header
``tr_id`` ``(null)`` and is closed); subscribe/unsubscribe with an approval key; acks
``OPSP0000`` (with ``output.iv``/``output.key``), ``OPSP0001``, ``OPSP0002``, ``OPSP0003``,
``OPSP0008`` at registration ``max_registrations + 1``; data frames
``0|TR_ID|NNN|rec^rec^...``; ``PINGPONG`` every ``ping_interval_s`` wall seconds, and a client
that has not echoed it within ``pong_timeout_s`` is dropped.

Simulator-only acks (no confirmed real code): invalid approval key → the configured
``invalid_approval_msg_cd`` (default ``OPSP0011``); unsupported ``tr_id`` → ``OPSP0007``;
unparsable message or bad ``tr_type`` → ``OPSP9999``.

One publisher task serves every session: each tick it takes the market seconds elapsed since
the last tick, the trades (``H0STCNT0``) and orderbook changes (``H0STASP0``) of every
subscribed symbol in them, and queues frames to each subscribed session (bounded queue; a
full queue drops the frame and books it in ``truth.suppressed``). A session's writer task sends
them and books every record it actually sent in the ground-truth log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio
import msgspec
from anyio import CancelScope
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

from pipeline import KST

from ._market import Book, Quote, SymbolInfo
from ._rng import derive_key
from ._wire import asp_record, cnt_record

if TYPE_CHECKING:
    from ._server import Simulator

__all__ = ["SUPPORTED_TRS", "WsHub"]

SUPPORTED_TRS: Final = ("H0STCNT0", "H0STASP0")
_ENC: Final = msgspec.json.Encoder()

Meta = list[tuple[str, int, int, int, int]]  # (symbol, second, price, volume, acml_vol)


class _Out(msgspec.Struct):
    kind: Literal["ack", "data", "ping"]
    text: str = ""
    tr_id: str = ""
    records: list[list[str]] = []
    meta: Meta = []


class _Session:
    def __init__(self, sid: int, ws: WebSocket, queue: int) -> None:
        self.id = sid
        self.ws = ws
        self.app_key: str | None = None
        self.regs: dict[tuple[str, str], None] = {}
        send, recv = anyio.create_memory_object_stream[_Out](queue)
        self.send: MemoryObjectSendStream[_Out] = send
        self.recv: MemoryObjectReceiveStream[_Out] = recv
        self.send_lock = anyio.Lock()
        self.scope: CancelScope | None = None
        self.close_code = 1000
        self.abrupt = False
        self.close_reason = ""
        self.ping_outstanding: float | None = None
        self.silenced_until: dt.datetime | None = None
        self.ignore_pong_until: dt.datetime | None = None
        self.short_frames = 0
        self.long_frames = 0
        self.long_extra = 3
        self.malformed_frames = 0
        self.frames_sent = 0
        self.records_sent = 0

    def kill(self, reason: str, *, code: int = 1000, abrupt: bool = False) -> None:
        if not self.close_reason:
            self.close_reason = reason
            self.close_code = code
            self.abrupt = abrupt
        if self.scope is not None:
            self.scope.cancel()


def _ack(
    tr_id: str, tr_key: str, rt_cd: str, msg_cd: str, msg1: str, output: dict[str, str] | None
) -> str:
    body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1}
    if output is not None:
        body["output"] = output
    return _ENC.encode(
        {"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": "N"}, "body": body}
    ).decode()


class WsHub:
    """Every WebSocket session of one simulator, and the publisher that feeds them."""

    def __init__(self, sim: Simulator, *, wall: Any = time.monotonic) -> None:
        self._sim = sim
        self._wall = wall
        self.sessions: dict[int, _Session] = {}
        self._by_app_key: dict[str, int] = {}
        self._next_id = 0
        self._last_second: int | None = None
        self._rng = random.Random(derive_key(sim.config.seed, 0xB47C))
        self.sessions_opened = 0

    def reset_publisher(self) -> None:
        """Forget the last published second (after a clock jump)."""
        self._last_second = None

    # -- introspection ---------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "registrations": [list(k) for k in s.regs],
                "frames_sent": s.frames_sent,
                "records_sent": s.records_sent,
                "bound": s.app_key is not None,
            }
            for s in self.sessions.values()
        ]

    def _targets(self, session: int | None) -> list[_Session]:
        if session is None:
            return list(self.sessions.values())
        found = self.sessions.get(session)
        return [found] if found is not None else []

    # -- fault hooks -----------------------------------------------------------------------

    def disconnect(self, session: int | None, *, abrupt: bool) -> list[int]:
        targets = self._targets(session)
        for s in targets:
            s.kill("fault:disconnect", code=1011, abrupt=abrupt)
        return [s.id for s in targets]

    def silence(self, session: int | None, until: dt.datetime) -> list[int]:
        targets = self._targets(session)
        for s in targets:
            s.silenced_until = until
        return [s.id for s in targets]

    def ignore_pong(self, session: int | None, until: dt.datetime) -> list[int]:
        targets = self._targets(session)
        for s in targets:
            s.ignore_pong_until = until
        return [s.id for s in targets]

    def damage_frames(self, session: int | None, kind: str, count: int, extra: int) -> list[int]:
        targets = self._targets(session)
        for s in targets:
            if kind == "short_frame":
                s.short_frames += count
            elif kind == "long_frame":
                s.long_frames += count
                s.long_extra = extra
            else:
                s.malformed_frames += count
        return [s.id for s in targets]

    # -- a session ---------------------------------------------------------------------------

    async def serve(self, ws: WebSocket) -> None:
        """The WebSocket endpoint: one call per connection."""
        await ws.accept()
        self._next_id += 1
        self.sessions_opened += 1
        session = _Session(self._next_id, ws, self._sim.config.session_queue_frames)
        self.sessions[session.id] = session
        try:
            async with anyio.create_task_group() as tg:
                session.scope = tg.cancel_scope
                if session.close_reason:
                    tg.cancel_scope.cancel()
                tg.start_soon(self._reader, session, tg.cancel_scope)
                tg.start_soon(self._writer, session)
                tg.start_soon(self._pinger, session)
        finally:
            self.sessions.pop(session.id, None)
            if session.app_key is not None and self._by_app_key.get(session.app_key) == session.id:
                del self._by_app_key[session.app_key]
            session.send.close()
            session.recv.close()
            if session.close_reason:
                self._sim.truth.record_event(
                    "session_closed",
                    self._sim.clock.now(),
                    session=session.id,
                    reason=session.close_reason,
                )
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await self._close(session)

    async def _close(self, session: _Session) -> None:
        if session.abrupt:
            # the ASGI receive callable is the uvicorn protocol's bound method (send is wrapped
            # by Starlette); its transport is the only way to drop TCP without a close frame
            proto = getattr(getattr(session.ws, "_receive", None), "__self__", None)
            transport = getattr(proto, "transport", None)
            if transport is not None:
                transport.abort()
                return
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await session.ws.close(code=session.close_code)

    async def _send_now(self, session: _Session, text: str) -> None:
        async with session.send_lock:
            await session.ws.send_text(text)

    async def _reader(self, session: _Session, scope: CancelScope) -> None:
        ws = session.ws
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text = msg.get("text")
                if text is None:
                    data = msg.get("bytes") or b""
                    text = data.decode("utf-8", "replace")
                await self._on_message(session, text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            if not session.close_reason:
                session.close_reason = "client_closed"
            scope.cancel()

    async def _on_message(self, session: _Session, text: str) -> None:
        sim = self._sim
        try:
            msg = msgspec.json.decode(text)
            header = msg["header"]
            tr_id_h = header.get("tr_id")
        except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
            await self._queue_ack(
                session,
                _ack(
                    "(null)", "", "1", "OPSP9999", "JSON PARSING ERROR : invalid json format", None
                ),
            )
            return
        if tr_id_h == "PINGPONG":
            now = sim.clock.now()
            if session.ignore_pong_until is None or now >= session.ignore_pong_until:
                session.ping_outstanding = None
            return
        try:
            body_input = msg["body"]["input"]
            tr_id = str(body_input["tr_id"])
            tr_key = str(body_input["tr_key"])
            tr_type = str(header.get("tr_type", ""))
            approval = header.get("approval_key")
        except (KeyError, TypeError):
            await self._queue_ack(
                session,
                _ack(
                    "(null)", "", "1", "OPSP9999", "JSON PARSING ERROR : invalid json format", None
                ),
            )
            return
        app_key = sim.auth.approval_app_key(approval if isinstance(approval, str) else None)
        if app_key is None:
            cfg = sim.config
            await self._queue_ack(
                session,
                _ack(
                    tr_id, tr_key, "1", cfg.invalid_approval_msg_cd, cfg.invalid_approval_msg1, None
                ),
            )
            return
        if session.app_key is None:
            owner = self._by_app_key.get(app_key)
            if owner is not None and owner != session.id and owner in self.sessions:
                text_8996 = _ack("(null)", tr_key, "9", "OPSP8996", "ALREADY IN USE appkey", None)
                with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                    await self._send_now(session, text_8996)
                sim.truth.record_event(
                    "duplicate_session", sim.clock.now(), session=session.id, owner=owner
                )
                session.kill("duplicate_session", code=1000)
                return
            session.app_key = app_key
            self._by_app_key[app_key] = session.id
        key = (tr_id, tr_key)
        if tr_type == "1":
            if tr_id not in SUPPORTED_TRS:
                ack = _ack(tr_id, tr_key, "1", "OPSP0007", "SUBSCRIBE ERROR : invalid tr_id", None)
            elif key in session.regs:
                ack = _ack(tr_id, tr_key, "1", "OPSP0002", "ALREADY IN SUBSCRIBE", None)
            elif len(session.regs) >= sim.config.max_registrations:
                ack = _ack(tr_id, tr_key, "1", "OPSP0008", "MAX SUBSCRIBE OVER", None)
            else:
                session.regs[key] = None
                ack = _ack(
                    tr_id,
                    tr_key,
                    "0",
                    "OPSP0000",
                    "SUBSCRIBE SUCCESS",
                    self._cipher(session, tr_id),
                )
        elif tr_type == "2":
            if key in session.regs:
                del session.regs[key]
                ack = _ack(
                    tr_id,
                    tr_key,
                    "0",
                    "OPSP0001",
                    "UNSUBSCRIBE SUCCESS",
                    self._cipher(session, tr_id),
                )
            else:
                ack = _ack(tr_id, tr_key, "1", "OPSP0003", "UNSUBSCRIBE ERROR(not found!)", None)
        else:
            ack = _ack(tr_id, tr_key, "1", "OPSP9999", "INVALID TR_TYPE", None)
        await self._queue_ack(session, ack)

    def _cipher(self, session: _Session, tr_id: str) -> dict[str, str]:
        h = derive_key(self._sim.config.seed, session.id, sum(map(ord, tr_id)))
        hexs = f"{h:016x}" * 4
        return {"iv": hexs[:16], "key": hexs[16:48]}

    async def _queue_ack(self, session: _Session, text: str) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await session.send.send(_Out("ack", text=text))

    async def _writer(self, session: _Session) -> None:
        sim = self._sim
        ws = session.ws
        try:
            async for out in session.recv:
                now = sim.clock.now()
                if session.silenced_until is not None:
                    if now < session.silenced_until:
                        if out.kind == "data":
                            sim.truth.suppressed[f"silenced:{out.tr_id}"] += len(out.records)
                        continue
                    session.silenced_until = None
                if out.kind != "data":
                    async with session.send_lock:
                        await ws.send_text(out.text)
                    continue
                if session.malformed_frames > 0:
                    session.malformed_frames -= 1
                    async with session.send_lock:
                        await ws.send_text(f"0|{out.tr_id}|0x1|{'^' * 7}garbage|")
                    sim.truth.record_event("malformed_frame_sent", now, session=session.id)
                records = out.records
                flag = ""
                if session.short_frames > 0:
                    session.short_frames -= 1
                    records = [records[0][: len(records[0]) // 2], *records[1:]]
                    flag = "short"
                elif session.long_frames > 0:
                    session.long_frames -= 1
                    pad = [f"X{i}" for i in range(session.long_extra)]
                    records = [[*r, *pad] for r in records]
                    flag = "long"
                text = f"0|{out.tr_id}|{len(records):03d}|" + "^".join(
                    v for rec in records for v in rec
                )
                async with session.send_lock:
                    await ws.send_text(text)
                session.frames_sent += 1
                session.records_sent += len(records)
                if flag == "short":
                    sim.truth.record(out.tr_id, out.meta[:1], now, session.id, "short")
                    sim.truth.record(out.tr_id, out.meta[1:], now, session.id)
                else:
                    sim.truth.record(out.tr_id, out.meta, now, session.id, flag)
        except (WebSocketDisconnect, RuntimeError, OSError):
            session.close_reason = session.close_reason or "send_failed"
            if session.scope is not None:
                session.scope.cancel()

    async def _pinger(self, session: _Session) -> None:
        cfg = self._sim.config
        if cfg.ping_interval_s <= 0:
            return
        step = min(cfg.ping_interval_s, cfg.pong_timeout_s or cfg.ping_interval_s) / 4
        next_ping = self._wall() + cfg.ping_interval_s
        while True:
            await anyio.sleep(step)
            wall = self._wall()
            if (
                cfg.pong_timeout_s > 0
                and session.ping_outstanding is not None
                and wall - session.ping_outstanding > cfg.pong_timeout_s
            ):
                self._sim.truth.record_event(
                    "pong_timeout", self._sim.clock.now(), session=session.id
                )
                session.kill("pong_timeout", code=1000)
                return
            if wall >= next_ping:
                next_ping = wall + cfg.ping_interval_s
                now = self._sim.clock.now()
                if session.silenced_until is not None and now < session.silenced_until:
                    continue
                stamp = now.astimezone(KST).strftime("%Y%m%d%H%M%S")
                text = _ENC.encode({"header": {"tr_id": "PINGPONG", "datetime": stamp}}).decode()
                if session.ping_outstanding is None:
                    session.ping_outstanding = wall
                try:
                    await session.send.send(_Out("ping", text=text))
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return

    # -- publisher ---------------------------------------------------------------------------

    async def publish_forever(self) -> None:
        interval = self._sim.config.publish_interval_s
        while True:
            self.publish_once()
            await anyio.sleep(interval)

    def publish_once(self) -> None:
        """Queue the frames of every market second since the last call."""
        sim = self._sim
        sim.sync_day()
        now = sim.clock.now()
        s_now = min(max(sim.market.second_of(now), -1), sim.market.close_s)
        last = self._last_second
        if last is None or s_now < last:
            self._last_second = s_now
            return
        if s_now == last:
            return
        lo = last
        if s_now - lo > sim.config.max_catchup_s:
            lo = s_now - sim.config.max_catchup_s
            sim.truth.record_event("publisher_gap", now, skipped_from=last + 1, skipped_to=lo)
        self._last_second = s_now
        subs: dict[tuple[str, str], list[_Session]] = defaultdict(list)
        for s in self.sessions.values():
            if s.app_key is None:
                continue
            for key in s.regs:
                subs[key].append(s)
        if not subs:
            return
        market = sim.market
        extra = sim.config.extra_trailing_fields
        day = market.day.strftime("%Y%m%d")
        quotes: dict[tuple[int, int], Quote] = {}
        books: dict[tuple[int, int], Book] = {}

        def quote(sym: SymbolInfo, sec: int) -> Quote:
            k = (sym.position, sec)
            q = quotes.get(k)
            if q is None:
                q = quotes[k] = market.quote_cached(sym, sec)
            return q

        def book(sym: SymbolInfo, sec: int) -> Book:
            k = (sym.position, sec)
            b = books.get(k)
            if b is None:
                b = books[k] = market.book_from_quote(quote(sym, sec))
            return b

        for (tr_id, code), sessions in sorted(subs.items(), key=lambda kv: kv[0]):
            sym = market.symbol(code)
            if sym is None:
                continue
            frames: list[tuple[list[list[str]], Meta]] = []
            if tr_id == "H0STCNT0":
                trades = market.trades(sym, lo, s_now)
                if not trades:
                    continue
                recs = [
                    cnt_record(t, quote(sym, t.second), book(sym, t.second), day, extra)
                    for t in trades
                ]
                meta = [(code, t.second, t.price, t.volume, t.acml_vol) for t in trades]
                if len(trades) > 1 and self._rng.random() < sim.config.batch_probability:
                    frames.append((recs, meta))
                else:
                    frames.extend(([r], [m]) for r, m in zip(recs, meta, strict=True))
            else:
                p = sim.config.book_change_probability
                for sec in market.seconds_with_book_change(sym, lo, s_now, p):
                    q = quote(sym, sec)
                    rec = asp_record(q, book(sym, sec), book(sym, sec - 1), extra)
                    frames.append(([rec], [(code, sec, int(rec[3]), 0, q.acml_vol)]))
            for recs, meta in frames:
                out = _Out("data", tr_id=tr_id, records=recs, meta=meta)
                for s in sessions:
                    try:
                        s.send.send_nowait(out)
                    except anyio.WouldBlock:
                        sim.truth.suppressed[f"queue_full:{tr_id}"] += len(recs)
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        pass
