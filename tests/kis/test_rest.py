"""KIS REST client against httpx.MockTransport: headers, params, error classes, retries."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import httpx
import pytest

import observer.kis
from observer.kis import (
    KisApiError,
    KisAuthRejected,
    KisConfig,
    KisRateLimited,
    KisRestClient,
    KisServerError,
    KisTimeout,
    KisTokenInvalid,
    KisTransportError,
    ManualClock,
    RateLimiter,
)
from observer.kis._http import HTTPX_ERROR_MAP

pytestmark = pytest.mark.anyio


def client_for(config: KisConfig, fake_kis, clock: ManualClock, **kw) -> KisRestClient:
    return KisRestClient(config, clock=clock, transport=fake_kis.transport(), **kw)


async def test_inquire_price_sends_exact_kis_headers(config, fake_kis, clock) -> None:
    """A quote carries content-type, Bearer token, appkey, appsecret, tr_id, custtype P."""
    async with client_for(config, fake_kis, clock) as client:
        await client.inquire_price("005930")
    request = fake_kis.quote_requests[0]
    expected = {
        "content-type": "application/json; charset=utf-8",
        "authorization": f"Bearer {fake_kis.token_value(1)}",
        "appkey": config.app_key.reveal(),
        "appsecret": config.app_secret.reveal(),
        "tr_id": "FHKST01010100",
        "custtype": "P",
    }
    assert expected == {k: request.headers[k] for k in expected}


async def test_inquire_price_sends_market_and_symbol_params(config, fake_kis, clock) -> None:
    """inquire-price is a GET with FID_COND_MRKT_DIV_CODE and FID_INPUT_ISCD."""
    async with client_for(config, fake_kis, clock) as client:
        await client.inquire_price("005930")
    request = fake_kis.quote_requests[0]
    assert (
        request.method,
        request.url.path,
        dict(request.url.params),
    ) == (
        "GET",
        "/uapi/domestic-stock/v1/quotations/inquire-price",
        {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
    )


async def test_multi_price_sends_only_the_pairs_used_numbered_from_one(
    config, fake_kis, clock
) -> None:
    """Three symbols → exactly _1.._3 pairs, in order, with TR FHKST11300006."""
    async with client_for(config, fake_kis, clock) as client:
        await client.inquire_multi_price(["005930", "000660", "035720"])
    request = fake_kis.quote_requests[0]
    expected = {
        "FID_COND_MRKT_DIV_CODE_1": "J",
        "FID_INPUT_ISCD_1": "005930",
        "FID_COND_MRKT_DIV_CODE_2": "J",
        "FID_INPUT_ISCD_2": "000660",
        "FID_COND_MRKT_DIV_CODE_3": "J",
        "FID_INPUT_ISCD_3": "035720",
    }
    assert (expected, "FHKST11300006") == (dict(request.url.params), request.headers["tr_id"])


async def test_multi_price_refuses_more_than_thirty_symbols(config, fake_kis, clock) -> None:
    """31 symbols are refused before anything is sent."""
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(ValueError, match=r"1\.\.30"):
            await client.inquire_multi_price([f"{n:06d}" for n in range(31)])
    assert fake_kis.quote_requests == []


async def test_orderbook_and_index_use_their_tr_ids_and_paths(config, fake_kis, clock) -> None:
    """Orderbook is FHKST01010200; index is FHPUP02100000 with market U."""
    async with client_for(config, fake_kis, clock) as client:
        await client.inquire_orderbook("005930")
        await client.inquire_index_price("1001")
    book, index = fake_kis.quote_requests
    assert [(r.headers["tr_id"], r.url.path, dict(r.url.params)) for r in (book, index)] == [
        (
            "FHKST01010200",
            "/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn",
            {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
        ),
        (
            "FHPUP02100000",
            "/uapi/domestic-stock/v1/quotations/inquire-index-price",
            {"FID_COND_MRKT_DIV_CODE": "U", "FID_INPUT_ISCD": "1001"},
        ),
    ]


async def test_result_carries_verbatim_text_status_and_params(config, fake_kis, clock) -> None:
    """RestResult keeps the exact response text, the status, the TR, the path and the params."""
    raw = (
        '{"rt_cd":"0","msg_cd":"MCA00000","msg1":"정상처리 되었습니다.  ",'
        '"output":{"stck_prpr":"71900"}}'
    )
    fake_kis.quote_answers.append((200, raw))
    async with client_for(config, fake_kis, clock) as client:
        result = await client.inquire_price("005930")
    assert (
        raw,
        200,
        "FHKST01010100",
        "/uapi/domestic-stock/v1/quotations/inquire-price",
        {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
        "71900",
        "정상처리 되었습니다.",
    ) == (
        result.text,
        result.status,
        result.tr_id,
        result.path,
        result.params,
        result.body["output"]["stck_prpr"],
        result.msg1,
    )


async def test_result_becomes_a_raw_journal_record(config, fake_kis, clock) -> None:
    """to_raw_event keeps the body verbatim and the symbols asked for."""
    from pipeline import Mode

    async with client_for(config, fake_kis, clock) as client:
        result = await client.inquire_multi_price(["005930", "000660"])
    event = result.to_raw_event(
        mode=Mode.SWING, trading_day=clock.now().date(), cycle_id="c1", seq=7
    )
    assert (result.text, ("005930", "000660"), 7, result.params) == (
        event.body,
        event.symbols,
        event.seq,
        event.params,
    )


async def test_rate_limit_on_http_500_cools_down_and_retries(config, fake_kis, clock) -> None:
    """EGW00201 with HTTP 500: the limiter cools down 1 s and the request succeeds."""
    fake_kis.quote_answers.append(
        (
            500,
            fake_kis.envelope(rt_cd="1", msg_cd="EGW00201", msg1="초당 거래건수를 초과하였습니다."),
        )
    )
    async with client_for(config, fake_kis, clock) as client:
        result = await client.inquire_price("005930")
    assert (
        result.status,
        len(fake_kis.quote_requests),
        client.rate_limited,
        1.0 in clock.sleeps,
    ) == (200, 2, 1, True)


async def test_rate_limit_on_http_200_is_classified_by_msg_cd(config, fake_kis, clock) -> None:
    """EGW00201 arriving with HTTP 200 is still a rate limit (classified by msg_cd)."""
    fake_kis.quote_answers.append(
        (
            200,
            fake_kis.envelope(rt_cd="1", msg_cd="EGW00201", msg1="초당 거래건수를 초과하였습니다."),
        )
    )
    async with client_for(config, fake_kis, clock) as client:
        await client.inquire_price("005930")
    assert client.rate_limited == 1


async def test_rate_limit_that_never_clears_raises_rate_limited(config, fake_kis, clock) -> None:
    """After the configured attempts, KisRateLimited reaches the caller."""
    fake_kis.default_quote = (500, fake_kis.envelope(rt_cd="1", msg_cd="EGW00201", msg1="초당"))
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(KisRateLimited):
            await client.inquire_price("005930")
    assert config.retry.attempts == len(fake_kis.quote_requests)


@pytest.mark.parametrize("code", ["EGW00123", "EGW00121"])
async def test_token_rejection_refreshes_once_and_retries(config, fake_kis, clock, code) -> None:
    """An expired/invalid token triggers one new token and the retry uses it."""
    fake_kis.quote_answers.append(
        (500, fake_kis.envelope(rt_cd="1", msg_cd=code, msg1="기간이 만료된 token 입니다."))
    )
    clock.advance(61)  # issuance throttle: not the point here
    async with client_for(config, fake_kis, clock) as client:
        result = await client.inquire_price("005930")
    second = fake_kis.quote_requests[1]
    assert (200, 2, f"Bearer {fake_kis.token_value(2)}") == (
        result.status,
        fake_kis.token_calls,
        second.headers["authorization"],
    )


async def test_token_rejected_twice_is_not_refreshed_again(config, fake_kis, clock) -> None:
    """A second rejection in the same request raises KisTokenInvalid instead of hammering tokenP."""
    fake_kis.default_quote = (
        500,
        fake_kis.envelope(rt_cd="1", msg_cd="EGW00123", msg1="기간이 만료된 token 입니다."),
    )
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(KisTokenInvalid):
            await client.inquire_price("005930")
    assert fake_kis.token_calls == 2


async def test_server_error_without_code_is_retried_until_success(config, fake_kis, clock) -> None:
    """HTTP 502 with a non-JSON body is a server error and is retried."""
    fake_kis.quote_answers += [(502, "<html>bad gateway</html>"), (503, "")]
    async with client_for(config, fake_kis, clock) as client:
        result = await client.inquire_price("005930")
    assert (result.status, len(fake_kis.quote_requests), client.retries) == (200, 3, 2)


async def test_on_error_is_told_each_attempt_that_failed(config, fake_kis, clock) -> None:
    """A 502 then a 503 before the answer: the caller's hook hears both, in order."""
    fake_kis.quote_answers += [(502, "<html>bad gateway</html>"), (503, "")]
    seen: list[Exception] = []
    async with client_for(config, fake_kis, clock) as client:
        await client.inquire_price("005930", on_error=seen.append)
    assert [(KisServerError, 502), (KisServerError, 503)] == [
        (type(exc), getattr(exc, "status", None)) for exc in seen
    ]


async def test_persistent_server_error_raises_server_error(config, fake_kis, clock) -> None:
    """A 500 without a KIS code on every attempt ends in KisServerError."""
    fake_kis.default_quote = (500, "oops")
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(KisServerError):
            await client.inquire_price("005930")
    assert config.retry.attempts == len(fake_kis.quote_requests)


async def test_timeout_is_translated_and_retried(config, fake_kis, clock) -> None:
    """An httpx ReadTimeout becomes KisTimeout internally and the request is retried."""

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    fake_kis.quote_answers.append(timeout)
    async with client_for(config, fake_kis, clock) as client:
        result = await client.inquire_price("005930")
    assert (result.status, client.retries) == (200, 1)


async def test_connection_error_exhausting_attempts_raises_transport_error(
    config, fake_kis, clock
) -> None:
    """A connect error on every attempt reaches the caller as KisTransportError."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fake_kis.quote_answers += [refuse] * 10
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(KisTransportError) as info:
            await client.inquire_price("005930")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_bad_app_key_is_fatal_with_a_clear_message(config, fake_kis, clock) -> None:
    """EGW00103 on tokenP raises KisAuthRejected naming the settings, no retry."""
    fake_kis.token_answers.append(
        (403, {"error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."})
    )
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(KisAuthRejected, match="KIS_APP_KEY") as info:
            await client.inquire_price("005930")
    assert (
        info.value.code,
        fake_kis.token_calls,
        len(fake_kis.quote_requests),
    ) == ("EGW00103", 1, 0)


async def test_no_permission_on_quote_is_fatal(config, fake_kis, clock) -> None:
    """A 403 on a quote with an unknown code is an auth rejection and is not retried."""
    fake_kis.quote_answers.append(
        (403, fake_kis.envelope(rt_cd="1", msg_cd="EGW00206", msg1="API 사용 권한이 없습니다."))
    )
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(KisAuthRejected):
            await client.inquire_price("005930")
    assert len(fake_kis.quote_requests) == 1


async def test_other_error_code_is_an_api_error_not_retried(config, fake_kis, clock) -> None:
    """rt_cd 1 with an unknown msg_cd on HTTP 200 raises KisApiError after one request."""
    fake_kis.quote_answers.append(
        (200, fake_kis.envelope(rt_cd="1", msg_cd="APBK0919", msg1="조회할 자료가 없습니다"))
    )
    async with client_for(config, fake_kis, clock) as client:
        with pytest.raises(KisApiError) as info:
            await client.inquire_price("999999")
    assert (info.value.msg_cd, len(fake_kis.quote_requests)) == ("APBK0919", 1)


async def test_token_is_reused_across_requests(config, fake_kis, clock) -> None:
    """Ten requests cost one token issuance."""
    async with client_for(config, fake_kis, clock) as client:
        for _ in range(10):
            await client.inquire_price("005930")
    assert fake_kis.token_calls == 1


async def test_rate_limiter_spaces_requests_at_the_configured_rate(config, fake_kis, clock) -> None:
    """19 requests at 18/s take 1 s of limiter waits on the injected clock."""
    async with client_for(config, fake_kis, clock) as client:
        start = clock.monotonic()
        for _ in range(19):
            await client.inquire_price("005930")
    assert pytest.approx(clock.monotonic() - start) == 1.0


async def test_paper_environment_refuses_live_only_multi_price(config, fake_kis, clock) -> None:
    """intstock-multprice is live only: paper raises a clear config error before sending."""
    import msgspec

    from observer.kis import KisConfigError
    from pipeline import Environment

    paper = msgspec.structs.replace(config, environment=Environment.PAPER)
    async with client_for(paper, fake_kis, clock) as client:
        with pytest.raises(KisConfigError, match="live only"):
            await client.inquire_multi_price(["005930"])
    assert fake_kis.requests == []


def test_every_httpx_error_class_is_mapped() -> None:
    """Each httpx transport error maps to a KisTransportError leaf (timeouts: KisTimeout)."""
    leaves = [
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.PoolTimeout,
        httpx.ConnectError,
        httpx.ReadError,
        httpx.WriteError,
        httpx.CloseError,
        httpx.RemoteProtocolError,
        httpx.LocalProtocolError,
        httpx.ProxyError,
        httpx.UnsupportedProtocol,
        httpx.DecodingError,
        httpx.TooManyRedirects,
    ]
    mapped = {
        leaf: next(ours for foreign, ours in HTTPX_ERROR_MAP if issubclass(leaf, foreign))
        for leaf in leaves
    }
    expected = {
        leaf: (KisTimeout if issubclass(leaf, httpx.TimeoutException) else KisTransportError)
        for leaf in leaves
    }
    assert expected == mapped


def test_client_module_has_no_trading_path_or_order_tr_id() -> None:
    """Read-only rule: no /trading/ path and no TTTC/VTTC TR id in the KIS package."""
    package = Path(inspect.getfile(observer.kis)).parent
    offending = [
        (path.name, match.group(0))
        for path in sorted(package.glob("*.py"))
        for match in re.finditer(r"/trading/|[TV]TTC\w*", path.read_text(encoding="utf-8"))
    ]
    assert offending == []


def test_client_exposes_only_quotation_endpoints() -> None:
    """Every endpoint constant in the REST module is under /uapi/domestic-stock/v1/quotations/."""
    from observer.kis import _rest

    tree = ast.parse(inspect.getsource(_rest))
    paths = sorted(
        {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("/uapi/")
        }
    )
    assert paths == ["/uapi/domestic-stock/v1/quotations/"]


async def test_shared_limiter_counts_every_request(config, fake_kis, clock) -> None:
    """Two clients built on one limiter draw from the same budget."""
    limiter = RateLimiter(18.0, clock=clock)
    async with (
        client_for(config, fake_kis, clock, limiter=limiter) as a,
        client_for(config, fake_kis, clock, limiter=limiter) as b,
    ):
        await a.inquire_price("005930")
        await b.inquire_price("000660")
    assert limiter.acquired == 2


async def test_clients_on_one_app_key_share_one_limiter(config, fake_kis, clock) -> None:
    """Two clients built for the same key and environment draw from one limiter by default."""
    import msgspec

    from pipeline import Environment

    paper = msgspec.structs.replace(config, environment=Environment.PAPER)
    async with (
        client_for(config, fake_kis, clock) as a,
        client_for(config, fake_kis, clock) as b,
        client_for(paper, fake_kis, clock) as c,
    ):
        same, other = a.limiter is b.limiter, a.limiter is c.limiter
    expected = (True, False)
    assert expected == (same, other)
