"""The simulator's HTTP side: KIS REST endpoints plus the ``/sim/`` admin and master list.

KIS paths (reference §2, §5): ``POST /oauth2/tokenP``, ``POST /oauth2/revokeP``,
``POST /oauth2/Approval``, ``GET /uapi/domestic-stock/v1/quotations/{inquire-price,
intstock-multprice, inquire-asking-price-exp-ccn, inquire-index-price}``. Anything else —
including every order endpoint — is 404: the simulator never accepts an order.

Simulator-only codes (the reference gives no real one; a client should treat them as generic
failures): ``SIMQ0001`` tr_id does not match the path, ``SIMQ0002`` missing/bad query
parameter, ``SIMQ0003`` unknown symbol or index code, ``SIMQ0004`` a multi-price request
naming a symbol beyond pair 30 (KIS takes up to 30 a call, reference §5.3; the reference
says nothing of the answer to more, so the whole request is refused rather than cut short).

Admin (loopback, no auth): ``GET /sim/v1/master`` → ``[{code, name, market}]``;
``GET|POST /sim/admin/faults`` (POST body: one ``FaultSpec`` as JSON); ``GET
/sim/admin/truth/summary``; ``GET|POST /sim/admin/clock`` (POST ``{"day": "YYYY-MM-DD",
"time": "HH:MM:SS", "speed": 20}``, each optional); ``GET /sim/admin/sessions``;
``GET /sim/admin/status`` (clock, warm-up, counts).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Final

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline import DECODE_ERRORS

from ._faults import FaultSpec
from ._wire import asking_price_outputs, index_output, multiprice_row, price_output

if TYPE_CHECKING:
    from ._server import Simulator

__all__ = ["rest_routes"]

_ENC: Final = msgspec.json.Encoder()
_JSON: Final = "application/json; charset=utf-8"
_OK_MSG: Final = ("0", "MCA00000", "정상처리 되었습니다.")
_ERRORS: Final = {
    "EGW00103": "유효하지 않은 AppKey입니다.",
    "EGW00121": "유효하지 않은 token 입니다.",
    "EGW00123": "기간이 만료된 token 입니다.",
    "EGW00201": "초당 거래건수를 초과하였습니다.",
    "SIMQ0001": "tr_id가 요청 경로와 일치하지 않습니다.(simulator)",
    "SIMQ0002": "필수 입력값이 누락되었습니다.(simulator)",
    "SIMQ0003": "조회할 자료가 없습니다.(simulator)",
    "SIMQ0004": "조회 가능한 종목 수(30)를 초과하였습니다.(simulator)",
}
_QUOTE_TRS: Final = {
    "inquire-price": "FHKST01010100",
    "intstock-multprice": "FHKST11300006",
    "inquire-asking-price-exp-ccn": "FHKST01010200",
    "inquire-index-price": "FHPUP02100000",
}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_ENC.encode(body), status_code=status, media_type=_JSON, headers=headers)


_MULTI_CODE: Final = "FID_INPUT_ISCD_"


def _pair_beyond_30(key: str) -> bool:
    """``FID_INPUT_ISCD_<n>`` with n > 30: more symbols than one multi-price call takes."""
    number = key[len(_MULTI_CODE) :]
    return number.isdigit() and number.isascii() and len(number) < 6 and int(number) > 30


def _fail(msg_cd: str, status: int = 500, tr_id: str = "") -> Response:
    body = {"rt_cd": "1", "msg_cd": msg_cd, "msg1": _ERRORS[msg_cd]}
    return _json(body, status, {"tr_id": tr_id, "tr_cont": "", "gt_uid": ""})


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = msgspec.json.decode(await request.body())
    except DECODE_ERRORS:
        return None
    return data if isinstance(data, dict) else None


def rest_routes(sim: Simulator) -> list[Route]:
    """Every HTTP route, bound to one simulator."""

    async def token_p(request: Request) -> Response:
        body = await _body(request)
        if body is None or body.get("grant_type") != "client_credentials":
            return _json({"error_code": "EGW00002", "error_description": "잘못된 요청입니다."}, 400)
        appkey, secret = body.get("appkey"), body.get("appsecret")
        if not sim.auth.check_credentials(appkey, secret):
            return _json({"error_code": "EGW00103", "error_description": _ERRORS["EGW00103"]}, 403)
        assert isinstance(appkey, str)
        status, out = sim.auth.issue_token(appkey)
        return _json(out, status)

    async def revoke_p(request: Request) -> Response:
        body = await _body(request)
        if body is None or not sim.auth.check_credentials(
            body.get("appkey"), body.get("appsecret")
        ):
            return _json({"error_code": "EGW00103", "error_description": _ERRORS["EGW00103"]}, 403)
        token = body.get("token")
        if isinstance(token, str) and sim.auth.revoke(token):
            return _json({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})
        return _json({"code": 400, "message": "유효하지 않은 token 입니다."}, 400)

    async def approval(request: Request) -> Response:
        body = await _body(request)
        if body is None or body.get("grant_type") != "client_credentials":
            return _json({"error_code": "EGW00002", "error_description": "잘못된 요청입니다."}, 400)
        appkey = body.get("appkey")
        if not sim.auth.check_credentials(appkey, body.get("secretkey")):
            return _json({"error_code": "EGW00103", "error_description": _ERRORS["EGW00103"]}, 403)
        assert isinstance(appkey, str)
        return _json({"approval_key": sim.auth.issue_approval(appkey)})

    async def quotations(request: Request) -> Response:
        name = request.path_params["name"]
        expected_tr = _QUOTE_TRS.get(name)
        if expected_tr is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        sim.rest_requests += 1
        request_no = sim.rest_requests
        status = sim.faults.take_http_5xx()
        if status:
            return Response("Bad Gateway", status_code=status, media_type="text/plain")
        delay = sim.faults.take_latency_s()
        if delay > 0:
            await anyio.sleep(delay)
        h = request.headers
        tr_id = h.get("tr_id", "")
        appkey = h.get("appkey")
        if not sim.auth.check_credentials(appkey, h.get("appsecret")):
            return _fail("EGW00103", 403, tr_id)
        assert appkey is not None
        if not sim.auth.admit(appkey):
            sim.truth.suppressed["rest_rate_limited"] += 1
            return _fail("EGW00201", 500, tr_id)
        bad = sim.auth.check_token(h.get("authorization"), appkey)
        if bad is not None:
            return _fail(bad, 500, tr_id)
        if tr_id != expected_tr:
            return _fail("SIMQ0001", 500, tr_id)
        params = {k.upper(): v for k, v in request.query_params.items()}
        sim.sync_day()
        now = sim.clock.now()
        second = sim.market.second_of(now)
        served: list[tuple[str, int, int, int, int]] = []
        payload: dict[str, Any]
        market = sim.market
        if name == "intstock-multprice":
            if any(
                value and key.startswith(_MULTI_CODE) and _pair_beyond_30(key)
                for key, value in params.items()
            ):
                return _fail("SIMQ0004", 500, tr_id)
            codes = []
            for i in range(1, 31):
                code = params.get(f"FID_INPUT_ISCD_{i}")
                if code:
                    codes.append(code)
            if not codes:
                return _fail("SIMQ0002", 500, tr_id)
            rows = []
            known = [sym for code in codes if (sym := market.symbol(code)) is not None]
            quotes = {q.symbol.code: q for q in market.quote_many(known, second)}
            for code in codes:
                q = quotes.get(code)
                if q is None:
                    rows.append({"inter_shrn_iscd": code, "inter_kor_isnm": "", "inter2_prpr": ""})
                    continue
                rows.append(multiprice_row(q, market.book_from_quote(q)))
                served.append((code, q.second, q.price, q.acml_vol, q.acml_vol))
            payload = {"output": rows}
        elif name == "inquire-index-price":
            iq = market.index_quote(params.get("FID_INPUT_ISCD", ""), second)
            if params.get("FID_COND_MRKT_DIV_CODE") != "U" or iq is None:
                return _fail("SIMQ0003", 500, tr_id)
            payload = {"output": index_output(iq)}
            served.append((iq.code, iq.second, iq.value_x100, iq.acml_vol, iq.acml_vol))
        else:
            code = params.get("FID_INPUT_ISCD", "")
            if params.get("FID_COND_MRKT_DIV_CODE") not in ("J", "UN", "NX") or not code:
                return _fail("SIMQ0002", 500, tr_id)
            sym = market.symbol(code)
            if sym is None:
                return _fail("SIMQ0003", 500, tr_id)
            q = market.quote(sym, second)
            if name == "inquire-price":
                payload = {"output": price_output(q)}
            else:
                o1, o2 = asking_price_outputs(
                    q, market.book_from_quote(q), market.book(sym, second - 1)
                )
                payload = {"output1": o1, "output2": o2}
            served.append((code, q.second, q.price, q.acml_vol, q.acml_vol))
        rt_cd, msg_cd, msg1 = _OK_MSG
        payload.update({"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1})
        sim.truth.record(tr_id, served, now, request_no)
        return _json(
            payload, 200, {"tr_id": tr_id, "tr_cont": "", "gt_uid": f"SIM{request_no:029d}"}
        )

    async def master(request: Request) -> Response:
        return _json(sim.market.master())

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return _json([msgspec.structs.asdict(f) for f in sim.truth.faults])
        try:
            spec = msgspec.json.decode(await request.body(), type=FaultSpec)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        fired = sim.faults.inject(spec)
        return _json({"ok": True, "scheduled": fired is None})

    async def truth_summary(request: Request) -> Response:
        return _json(sim.truth.summary())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            if body is None:
                return _json({"error": "expected a JSON object"}, 400)
            try:
                now = sim.clock.now_kst()
                day = dt.date.fromisoformat(body["day"]) if "day" in body else now.date()
                at = dt.time.fromisoformat(body["time"]) if "time" in body else now.time()
                if "day" in body or "time" in body:
                    sim.set_time(day, at)
                if "speed" in body:
                    sim.clock.set_speed(float(body["speed"]))
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)
        return _json({"now": sim.clock.now_kst().isoformat(), "speed": sim.clock.speed})

    async def sessions(request: Request) -> Response:
        return _json(sim.hub.describe())

    async def status(request: Request) -> Response:
        return _json(
            {
                "now": sim.clock.now_kst().isoformat(),
                "speed": sim.clock.speed,
                "day": sim.market.day.isoformat(),
                "symbols": len(sim.market.symbols),
                "warm_up_done": sim.warm_up_done,
                "sessions": len(sim.hub.sessions),
                "rest_requests": sim.rest_requests,
            }
        )

    return [
        Route("/oauth2/tokenP", token_p, methods=["POST"]),
        Route("/oauth2/revokeP", revoke_p, methods=["POST"]),
        Route("/oauth2/Approval", approval, methods=["POST"]),
        Route("/uapi/domestic-stock/v1/quotations/{name}", quotations, methods=["GET"]),
        Route("/sim/v1/master", master, methods=["GET"]),
        Route("/sim/admin/faults", faults, methods=["GET", "POST"]),
        Route("/sim/admin/truth/summary", truth_summary, methods=["GET"]),
        Route("/sim/admin/clock", clock, methods=["GET", "POST"]),
        Route("/sim/admin/sessions", sessions, methods=["GET"]),
        Route("/sim/admin/status", status, methods=["GET"]),
    ]
