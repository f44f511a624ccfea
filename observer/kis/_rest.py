"""The KIS REST quotation client (read-only by construction).

Four quotation endpoints, nothing else: there is no order, modify or cancel path in this
module (a test scans the package for trading paths and order TR ids).

Every request goes through one ``RateLimiter`` per app key, carries the exact KIS headers
(reference §3.1) and is classified by ``msg_cd`` whatever the HTTP status (§3.3):

- ``EGW00201``/``EGW00215`` → ``KisRateLimited``: the limiter cools down, the request is retried;
- ``EGW00121``/``EGW00122``/``EGW00123`` → ``KisTokenInvalid``: the token is refreshed once and
  the request retried at once;
- HTTP 5xx, timeouts, connection errors → retried with capped exponential backoff and jitter
  (stamina) under ``RetryPolicy.deadline_s``; tests switch the waits off with
  ``stamina.set_testing``;
- bad app key / no permission → ``KisAuthRejected`` (fatal, clear message);
- any other ``rt_cd != "0"`` → ``KisApiError`` (not retried).

A caller may pass ``on_error``: it is told every error an attempt ended with, retried or not,
so a caller that stops waiting (a cycle's end) can book the request by what last went wrong.

Each call returns a ``RestResult``: the decoded envelope *and* the verbatim response text,
status, TR id, path, query parameters and timings, for the raw journal.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Final, NamedTuple, Self

import httpx
import msgspec
import stamina

from pipeline import Environment, Mode, RestResponse, Source

from ._auth import KisAuth
from ._clock import SYSTEM_CLOCK, Clock
from ._config import KisConfig
from ._errors import (
    KisApiError,
    KisAuthRejected,
    KisConfigError,
    KisRateLimited,
    KisResponseError,
    KisServerError,
    KisTokenInvalid,
    KisTransportError,
)
from ._http import decode_json_object, translate_http_errors
from ._ratelimit import RateLimiter, shared_limiter
from ._secrets import Secret

__all__ = [
    "FATAL_AUTH_CODES",
    "INDEX_PRICE",
    "INQUIRE_PRICE",
    "MULTI_PRICE",
    "MULTI_PRICE_MAX_SYMBOLS",
    "ORDERBOOK",
    "RATE_LIMIT_CODES",
    "TOKEN_INVALID_CODES",
    "Endpoint",
    "KisRestClient",
    "RestResult",
    "classify_response",
]

log = logging.getLogger("observer.kis.rest")

#: told each error a request's attempt ended with (``KisRestClient`` quote calls' ``on_error``)
ErrorHook = Callable[[Exception], None]

_QUOTATIONS: Final = "/uapi/domestic-stock/v1/quotations/"


class Endpoint(NamedTuple):
    path: str
    tr_id: str
    live_only: bool


INQUIRE_PRICE: Final = Endpoint(_QUOTATIONS + "inquire-price", "FHKST01010100", False)
MULTI_PRICE: Final = Endpoint(_QUOTATIONS + "intstock-multprice", "FHKST11300006", True)
ORDERBOOK: Final = Endpoint(_QUOTATIONS + "inquire-asking-price-exp-ccn", "FHKST01010200", False)
INDEX_PRICE: Final = Endpoint(_QUOTATIONS + "inquire-index-price", "FHPUP02100000", True)
_ENDPOINTS: Final = frozenset({INQUIRE_PRICE, MULTI_PRICE, ORDERBOOK, INDEX_PRICE})

MULTI_PRICE_MAX_SYMBOLS: Final = 30

RATE_LIMIT_CODES: Final = frozenset({"EGW00201", "EGW00215"})
TOKEN_INVALID_CODES: Final = frozenset({"EGW00121", "EGW00122", "EGW00123"})
# Bad/missing app key or secret, no permission for this API. EGW00103 is recorded [3P]; the
# neighbouring codes follow KIS's numbering of the same family [U], hence a set we can extend.
FATAL_AUTH_CODES: Final = frozenset(
    {"EGW00102", "EGW00103", "EGW00104", "EGW00105", "EGW00205", "EGW00206"}
)


class RestResult(msgspec.Struct, frozen=True, kw_only=True):
    """One successful REST exchange: decoded envelope plus everything the raw journal needs."""

    environment: Environment
    tr_id: str
    path: str
    params: dict[str, str]
    status: int
    text: str  # the response body exactly as received
    body: dict[str, Any]  # ``text`` decoded
    received_at: dt.datetime  # local receive time (UTC, injected clock)
    elapsed_ms: float
    attempts: int = 1
    symbols: tuple[str, ...] = ()  # the symbols asked for, in request order

    @property
    def rt_cd(self) -> str:
        return str(self.body.get("rt_cd", ""))

    @property
    def msg_cd(self) -> str:
        return str(self.body.get("msg_cd", ""))

    @property
    def msg1(self) -> str:
        return str(self.body.get("msg1", "")).strip()

    def to_raw_event(
        self, *, mode: Mode, trading_day: dt.date, cycle_id: str = "", seq: int = 0
    ) -> RestResponse:
        """The verbatim ``RestResponse`` record for the raw journal."""
        return RestResponse(
            seq=seq,
            mode=mode,
            source=Source.KIS_REST,
            environment=self.environment,
            trading_day=trading_day,
            receive_time=self.received_at,
            cycle_id=cycle_id,
            tr_id=self.tr_id,
            path=self.path,
            params=dict(self.params),
            status=self.status,
            body=self.text,
            symbols=self.symbols,
            elapsed_ms=self.elapsed_ms,
        )


def classify_response(
    status: int, body: dict[str, Any] | None, *, tr_id: str, path: str
) -> Exception | None:
    """None when the response is a success, otherwise the error it stands for (by msg_cd first)."""
    if body is None:
        if status >= 500:
            return KisServerError(status, tr_id=tr_id, path=path)
        return KisResponseError(f"{tr_id} {path}: HTTP {status}, body is not a JSON object")
    msg_cd = str(body.get("msg_cd") or body.get("error_code") or "")
    msg1 = str(body.get("msg1") or body.get("error_description") or "")
    rt_cd = str(body.get("rt_cd", ""))
    if msg_cd in RATE_LIMIT_CODES:
        return KisRateLimited(msg_cd, msg1, status=status, tr_id=tr_id, path=path)
    if msg_cd in TOKEN_INVALID_CODES:
        return KisTokenInvalid(msg_cd, msg1, status=status, tr_id=tr_id, path=path)
    if msg_cd in FATAL_AUTH_CODES or (status in (401, 403) and rt_cd != "0"):
        return KisAuthRejected(
            msg_cd or "(no code)", msg1 or "(no message)", status=status, endpoint=path
        )
    if status >= 500:
        return KisServerError(status, tr_id=tr_id, path=path)
    if status == 200 and rt_cd == "0":
        return None
    return KisApiError(msg_cd or "(no code)", msg1, status=status, tr_id=tr_id, path=path)


class KisRestClient:
    """Read-only KIS quotation client over one keep-alive ``httpx.AsyncClient``.

    Use as ``async with KisRestClient(config) as client:``. Share one client (hence one rate
    limiter and one token) per app key; ``client.auth`` also serves the WebSocket approval key.
    """

    def __init__(
        self,
        config: KisConfig,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        auth: KisAuth | None = None,
        use_disk_cache: bool = True,
    ) -> None:
        config.require_endpoints()
        if not config.app_key or not config.app_secret:
            raise KisConfigError("KIS_APP_KEY/KIS_APP_SECRET", "credentials are not set")
        self.config = config
        self._clock: Clock = clock or SYSTEM_CLOCK
        self.http = httpx.AsyncClient(
            base_url=config.rest_url,
            timeout=config.request_timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        # one limiter per app key in this process, whichever client asks (unless given one)
        self.limiter = limiter or shared_limiter(
            config.app_key,
            config.environment.value,
            config.rest_rate_per_s,
            burst=config.rest_burst,
            clock=self._clock,
        )
        self.auth = auth or KisAuth(
            config, self.http, clock=self._clock, use_disk_cache=use_disk_cache
        )
        self.requests_sent = 0
        self.retries = 0
        self.token_refreshes = 0
        self.rate_limited = 0

    async def __aenter__(self) -> Self:
        await self.http.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.http.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ quotations

    async def inquire_price(
        self, symbol: str, *, market: str = "J", on_error: ErrorHook | None = None
    ) -> RestResult:
        """Current price of one symbol (FHKST01010100, ``output`` object)."""
        params = {"FID_COND_MRKT_DIV_CODE": market, "FID_INPUT_ISCD": symbol}
        return await self._get(INQUIRE_PRICE, params, (symbol,), on_error)

    async def inquire_multi_price(
        self, symbols: Sequence[str], *, market: str = "J", on_error: ErrorHook | None = None
    ) -> RestResult:
        """Up to 30 symbols in one call (FHKST11300006, ``output`` rows); live only."""
        if not 1 <= len(symbols) <= MULTI_PRICE_MAX_SYMBOLS:
            raise ValueError(f"intstock-multprice takes 1..30 symbols, got {len(symbols)}")
        params: dict[str, str] = {}
        for n, symbol in enumerate(symbols, start=1):  # only the pairs used, numbered from _1
            params[f"FID_COND_MRKT_DIV_CODE_{n}"] = market
            params[f"FID_INPUT_ISCD_{n}"] = symbol
        return await self._get(MULTI_PRICE, params, tuple(symbols), on_error)

    async def inquire_orderbook(self, symbol: str, *, market: str = "J") -> RestResult:
        """10-level orderbook and expected-trade block (FHKST01010200, ``output1``/``output2``)."""
        params = {"FID_COND_MRKT_DIV_CODE": market, "FID_INPUT_ISCD": symbol}
        return await self._get(ORDERBOOK, params, (symbol,))

    async def inquire_index_price(self, index_code: str = "0001") -> RestResult:
        """Sector index (FHPUP02100000; 0001 KOSPI, 1001 KOSDAQ, 2001 KOSPI200); live only."""
        params = {"FID_COND_MRKT_DIV_CODE": "U", "FID_INPUT_ISCD": index_code}
        return await self._get(INDEX_PRICE, params, (index_code,))

    # ------------------------------------------------------------------ machinery

    def _headers(self, tr_id: str, token: Secret) -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {token.reveal()}",
            "appkey": self.config.app_key.reveal(),
            "appsecret": self.config.app_secret.reveal(),
            "tr_id": tr_id,
            "custtype": self.config.custtype,
        }

    def _retry_hook(self, exc: Exception) -> bool | float:
        if isinstance(exc, KisRateLimited):
            return self.config.retry.rate_limit_cooldown_s
        return isinstance(exc, KisTransportError)  # includes timeouts and 5xx

    async def _get(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        symbols: tuple[str, ...],
        on_error: ErrorHook | None = None,
    ) -> RestResult:
        if endpoint not in _ENDPOINTS:  # read-only rule: only the quotation endpoints above
            raise ValueError(f"{endpoint.path} is not a quotation endpoint")
        if endpoint.live_only and self.config.environment is Environment.PAPER:
            raise KisConfigError(
                "KIS_ENV", f"{endpoint.tr_id} is live only (모의투자 미지원); use live credentials"
            )
        policy = self.config.retry
        attempts = 0
        async for attempt in stamina.retry_context(
            on=self._retry_hook,
            attempts=policy.attempts,
            timeout=policy.deadline_s,
            wait_initial=policy.wait_initial_s,
            wait_max=policy.wait_max_s,
            wait_jitter=policy.wait_jitter_s,
        ):
            with attempt:
                attempts += 1
                if attempts > 1:
                    self.retries += 1
                try:
                    return await self._once(endpoint, params, symbols, attempts)
                except Exception as exc:
                    if on_error is not None:
                        on_error(exc)
                    raise
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    async def _once(
        self, endpoint: Endpoint, params: dict[str, str], symbols: tuple[str, ...], attempt: int
    ) -> RestResult:
        refreshed = False
        while True:
            token = await self.auth.access_token()
            await self.limiter.acquire()
            started = self._clock.monotonic()
            self.requests_sent += 1
            with translate_http_errors(f"GET {endpoint.path} ({endpoint.tr_id})"):
                response = await self.http.get(
                    endpoint.path, params=params, headers=self._headers(endpoint.tr_id, token)
                )
            received_at = self._clock.now()
            elapsed_ms = (self._clock.monotonic() - started) * 1000.0
            text = response.text
            body = decode_json_object(text)
            error = classify_response(
                response.status_code, body, tr_id=endpoint.tr_id, path=endpoint.path
            )
            log.debug(
                "kis_rest_response",
                extra={
                    "tr_id": endpoint.tr_id,
                    "status": response.status_code,
                    "msg_cd": body.get("msg_cd") if body else None,
                    "elapsed_ms": round(elapsed_ms, 3),
                    "attempt": attempt,
                },
            )
            if error is None and body is not None:  # (no error implies a body)
                return RestResult(
                    environment=self.config.environment,
                    tr_id=endpoint.tr_id,
                    path=endpoint.path,
                    params=dict(params),
                    status=response.status_code,
                    text=text,
                    body=body,
                    received_at=received_at,
                    elapsed_ms=elapsed_ms,
                    attempts=attempt,
                    symbols=symbols,
                )
            if error is None:  # pragma: no cover - classify_response never passes a missing body
                error = KisResponseError(f"{endpoint.tr_id}: empty body")
            if isinstance(error, KisTokenInvalid) and not refreshed:
                refreshed = True
                self.token_refreshes += 1
                log.info(
                    "kis_token_rejected", extra={"tr_id": endpoint.tr_id, "msg_cd": error.msg_cd}
                )
                await self.auth.refresh(token)
                continue
            if isinstance(error, KisRateLimited):
                self.rate_limited += 1
                self.limiter.cooldown(self.config.retry.rate_limit_cooldown_s)
                log.warning(
                    "kis_rate_limited", extra={"tr_id": endpoint.tr_id, "msg_cd": error.msg_cd}
                )
            raise error
