"""Access token and approval key: request bodies, disk cache, reuse, expiry, throttle."""

from __future__ import annotations

import datetime as dt
import json
import stat

import anyio
import httpx
import msgspec
import pytest

from observer.kis import (
    AccessToken,
    KisAuth,
    KisConfig,
    KisTokenThrottled,
    ManualClock,
    Secret,
    TokenCache,
)
from pipeline import Environment

pytestmark = pytest.mark.anyio


def make_auth(
    config: KisConfig, fake_kis, clock: ManualClock, **kw
) -> tuple[KisAuth, httpx.AsyncClient]:
    http = httpx.AsyncClient(base_url=config.rest_url, transport=fake_kis.transport())
    return KisAuth(config, http, clock=clock, **kw), http


async def test_token_request_body_has_exactly_the_three_fields(config, fake_kis, clock) -> None:
    """POST /oauth2/tokenP sends grant_type, appkey and appsecret."""
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        await auth.access_token()
    request = fake_kis.requests[0]
    assert (
        "POST",
        "/oauth2/tokenP",
        {
            "grant_type": "client_credentials",
            "appkey": config.app_key.reveal(),
            "appsecret": config.app_secret.reveal(),
        },
    ) == (
        request.method,
        request.url.path,
        json.loads(request.content),
    )


async def test_approval_key_uses_the_secretkey_field(config, fake_kis, clock) -> None:
    """POST /oauth2/Approval names the secret 'secretkey', not 'appsecret'."""
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        key = await auth.approval_key()
    request = fake_kis.requests[0]
    assert (
        "/oauth2/Approval",
        {
            "grant_type": "client_credentials",
            "appkey": config.app_key.reveal(),
            "secretkey": config.app_secret.reveal(),
        },
        True,
    ) == (
        request.url.path,
        json.loads(request.content),
        key.reveal().startswith("approval-001"),
    )


async def test_approval_key_is_reused_until_fresh_is_asked(config, fake_kis, clock) -> None:
    """Two approval_key() calls issue once; fresh=True issues again."""
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        await auth.approval_key()
        await auth.approval_key()
        await auth.approval_key(fresh=True)
    assert fake_kis.approval_calls == 2


async def test_token_cache_file_is_mode_0600(config, fake_kis, clock) -> None:
    """The cached token file is readable by its owner only."""
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        await auth.access_token()
    assert auth.cache is not None
    assert stat.S_IMODE(auth.cache.path.stat().st_mode) == 0o600


async def test_cached_token_is_reused_by_a_new_process(config, fake_kis, clock) -> None:
    """A second KisAuth on the same cache dir reuses the token without calling tokenP."""
    first, http1 = make_auth(config, fake_kis, clock)
    async with http1:
        token1 = await first.access_token()
    second, http2 = make_auth(config, fake_kis, clock)
    async with http2:
        token2 = await second.access_token()
    assert (1, token1.reveal()) == (fake_kis.token_calls, token2.reveal())


async def test_cache_is_keyed_by_environment(config, fake_kis, clock) -> None:
    """A paper client does not pick up the live token of the same app key."""
    live, http1 = make_auth(config, fake_kis, clock)
    async with http1:
        await live.access_token()
    paper_cfg = msgspec.structs.replace(config, environment=Environment.PAPER)
    clock.advance(61)
    paper, http2 = make_auth(paper_cfg, fake_kis, clock)
    async with http2:
        await paper.access_token()
    assert fake_kis.token_calls == 2


def test_cache_file_name_hides_the_app_key(config, tmp_path) -> None:
    """The cache file is named by a hash of the app key, never the key itself."""
    cache = TokenCache(tmp_path, environment=Environment.LIVE, app_key=config.app_key)
    assert config.app_key.reveal() not in cache.path.name


def test_corrupt_cache_file_is_ignored(config, tmp_path) -> None:
    """A truncated cache file reads as no token."""
    cache = TokenCache(tmp_path, environment=Environment.LIVE, app_key=config.app_key)
    cache.path.write_text('{"environment": "li')
    assert None is cache.load()


def test_cache_file_that_is_not_utf8_is_ignored(config, tmp_path) -> None:
    """A cache file with a byte that is not UTF-8 reads as no token, not a crash at login."""
    cache = TokenCache(tmp_path, environment=Environment.LIVE, app_key=config.app_key)
    cache.path.write_bytes(b'{"environment": "\xff"}')
    assert None is cache.load()


async def test_token_is_reissued_when_less_than_ten_minutes_remain(config, fake_kis, clock) -> None:
    """At 23 h 51 min into a 24 h token a new one is issued."""
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        await auth.access_token()
        clock.advance(86400 - 599)
        token = await auth.access_token()
    assert (2, fake_kis.token_value(2)) == (fake_kis.token_calls, token.reveal())


async def test_token_is_kept_while_more_than_the_margin_remains(config, fake_kis, clock) -> None:
    """At 23 h 49 min the same token is still used."""
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        await auth.access_token()
        clock.advance(86400 - 601)
        await auth.access_token()
    assert fake_kis.token_calls == 1


async def test_expired_cached_token_is_not_reused(config, fake_kis, clock) -> None:
    """A token in the cache that expired is replaced."""
    cache = TokenCache(config.token_cache_dir, environment=Environment.LIVE, app_key=config.app_key)
    cache.store(
        __import__("observer.kis", fromlist=["AccessToken"]).AccessToken(
            value=Secret("old-token-" + "z" * 30),
            token_type="Bearer",
            issued_at=clock.now() - dt.timedelta(days=2),
            expires_at=clock.now() - dt.timedelta(days=1),
        )
    )
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        token = await auth.access_token()
    assert fake_kis.token_value(1) == token.reveal()


async def test_expiry_takes_the_earlier_of_expires_in_and_the_stated_time(
    config, fake_kis, clock
) -> None:
    """access_token_token_expired (KST) earlier than expires_in wins."""
    stated = (clock.now() + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=9)))
    fake_kis.token_answers.append(
        (
            200,
            {
                "access_token": "t" * 40,
                "token_type": "Bearer",
                "expires_in": 86400,
                "access_token_token_expired": stated.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
    )
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        await auth.access_token()
    assert clock.now() + dt.timedelta(hours=1) == auth.current.expires_at


async def test_stated_expiry_already_past_falls_back_to_expires_in(
    config, fake_kis, clock, caplog
) -> None:
    """A stated expiry before the issue (a server on another day's clock) is not trusted:
    the token lives expires_in and is reused, instead of being re-issued on every call."""
    stated = (clock.now() - dt.timedelta(days=3)).astimezone(dt.timezone(dt.timedelta(hours=9)))
    answer = {
        "access_token": "t" * 40,
        "token_type": "Bearer",
        "expires_in": 86400,
        "access_token_token_expired": stated.strftime("%Y-%m-%d %H:%M:%S"),
    }
    fake_kis.token_answers.extend([(200, answer), (200, answer)])
    auth, http = make_auth(config, fake_kis, clock)
    with caplog.at_level("WARNING", logger="observer.kis.auth"):
        async with http:
            await auth.access_token()
            clock.advance(120)
            await auth.access_token()
    assert (clock.now() - dt.timedelta(seconds=120) + dt.timedelta(days=1), 1, 1) == (
        auth.current.expires_at,
        fake_kis.token_calls,
        [r.getMessage() for r in caplog.records].count("kis_token_expiry_past"),
    )


async def test_issuance_throttle_code_is_waited_out_not_hammered(config, fake_kis, clock) -> None:
    """EGW00133 (a stamp not ours) is waited out a whole minute and margin, never hammered."""
    fake_kis.token_answers.append(
        (
            403,
            {
                "error_code": "EGW00133",
                "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
            },
        )
    )
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        token = await auth.access_token()
    assert (2, [61.0], fake_kis.token_value(2)) == (
        fake_kis.token_calls,
        clock.sleeps,
        token.reveal(),
    )


async def test_issuance_throttle_past_the_deadline_raises(config, fake_kis, clock) -> None:
    """EGW00133 on every call ends in KisTokenThrottled after a bounded number of calls."""
    fake_kis.token_answers += [
        (403, {"error_code": "EGW00133", "error_description": "1분당 1회"})
    ] * 10
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        with pytest.raises(KisTokenThrottled):
            await auth.access_token()
    # at t=0, 61 and 122 s; 183 s would pass the 150 s deadline
    assert ([61.0, 61.0], 3) == (clock.sleeps, fake_kis.token_calls)


async def test_refresh_within_a_minute_waits_for_the_throttle(config, fake_kis, clock) -> None:
    """A forced refresh 10 s after issuance waits the remaining 50 s instead of calling early."""
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        old = await auth.access_token()
        clock.advance(10)
        await auth.refresh(old)
    assert ([51.0], 2) == (clock.sleeps, fake_kis.token_calls)  # 60 s + a 1 s margin


async def test_reissue_after_a_slow_issue_does_not_arrive_inside_the_kis_minute(
    config, clock
) -> None:
    """KIS counts the minute from when a tokenP call arrived: a first call that travelled
    0.3 s and a refresh whose call travels 0.05 s still get their token at the first try."""
    latencies = [0.3, 0.05, 0.05]
    answers: list[tuple[float, str]] = []
    stamped: list[float] = []

    def kis(request: httpx.Request) -> httpx.Response:
        clock.advance(latencies[len(answers)])
        arrived = clock.monotonic()
        if stamped and arrived - stamped[-1] < 60:
            answers.append((arrived, "EGW00133"))
            return httpx.Response(403, json={"error_code": "EGW00133"})
        stamped.append(arrived)
        answers.append((arrived, "issued"))
        return httpx.Response(
            200, json={"access_token": f"tok-{len(answers)}", "expires_in": 86400}
        )

    http = httpx.AsyncClient(base_url=config.rest_url, transport=httpx.MockTransport(kis))
    auth = KisAuth(config, http, clock=clock, use_disk_cache=False)
    async with http:
        first = await auth.access_token()
        clock.advance(10)
        await auth.refresh(first)
    assert ["issued", "issued"] == [result for _, result in answers]


async def test_concurrent_refreshes_share_one_issuance(config, fake_kis, clock) -> None:
    """Five tasks rejected with the same token cause one new token."""
    auth, http = make_auth(config, fake_kis, clock)
    results: list[str] = []
    async with http:
        old = await auth.access_token()
        clock.advance(61)

        async def refresh() -> None:
            results.append((await auth.refresh(old)).reveal())

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(refresh)
    assert (2, {fake_kis.token_value(2)}) == (fake_kis.token_calls, set(results))


async def test_token_near_expiry_is_used_while_reissue_is_throttled(
    config, fake_kis, clock
) -> None:
    """Inside the throttle minute a still-valid token is returned rather than waiting."""
    fake_kis.expires_in = 300  # shorter than the 10 min margin: always 'close to expiry'
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        first = await auth.access_token()
        clock.advance(5)
        second = await auth.access_token()
    assert (first.reveal(), [], 1) == (second.reveal(), clock.sleeps, fake_kis.token_calls)


def _token(clock: ManualClock, value: str) -> AccessToken:
    return AccessToken(
        value=Secret(value),
        token_type="Bearer",
        issued_at=clock.now(),
        expires_at=clock.now() + dt.timedelta(hours=20),
    )


def test_cached_token_goes_back_only_to_its_issuer(config, tmp_path, clock) -> None:
    """A token cached from one server (a simulator on another port) is not offered to the
    next; the one that issued it still gets it back."""
    env, key = Environment.SIM, config.app_key
    TokenCache(tmp_path, environment=env, app_key=key, issuer="http://127.0.0.1:1111").store(
        _token(clock, "t" * 40)
    )
    found = [
        TokenCache(tmp_path, environment=env, app_key=key, issuer=url).load()
        for url in ("http://127.0.0.1:2222", "http://127.0.0.1:1111")
    ]
    assert [None, "t" * 40] == [t and t.value.reveal() for t in found]


def test_cache_file_of_an_earlier_version_still_serves_its_token(config, tmp_path, clock) -> None:
    """A cache file written before tokens named their issuer is taken as it was."""
    cache = TokenCache(
        tmp_path, environment=Environment.LIVE, app_key=config.app_key, issuer=config.rest_url
    )
    cache.store(_token(clock, "u" * 40))
    legacy = json.loads(cache.path.read_text())
    del legacy["issuer"]
    cache.path.write_text(json.dumps(legacy))
    loaded = cache.load()
    assert "u" * 40 == (loaded and loaded.value.reveal())


async def test_client_of_another_server_issues_its_own_token(config, fake_kis, clock) -> None:
    """KisAuth keys its disk cache by its REST URL: a token left by another server's client
    (same app key) is not presented; one tokenP call gets this server's."""
    other = msgspec.structs.replace(config, rest_url="http://127.0.0.1:9")
    TokenCache(
        config.token_cache_dir,
        environment=config.environment,
        app_key=config.app_key,
        issuer=other.rest_url,
    ).store(_token(clock, "v" * 40))
    auth, http = make_auth(config, fake_kis, clock)
    async with http:
        token = await auth.access_token()
    assert (1, fake_kis.token_value(1)) == (fake_kis.token_calls, token.reveal())
