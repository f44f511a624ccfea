"""Fixtures for the KIS client tests: a config, a manual clock and a scriptable fake KIS."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina

from observer.kis import KisConfig, ManualClock, RetryPolicy, Secret
from pipeline import Environment

APP_KEY = "PS" + "k" * 34  # 36 chars, like a real KIS app key
APP_SECRET = "s" * 180
START = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)  # 09:30 KST


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """stamina's backoff waits are off in unit tests (attempts stay as configured, up to 10)."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def config(tmp_path: Path) -> KisConfig:
    return KisConfig(
        environment=Environment.LIVE,
        app_key=Secret(APP_KEY),
        app_secret=Secret(APP_SECRET),
        rest_url="https://kis.test",
        ws_url="ws://kis.test/tryitout",
        token_cache_dir=tmp_path / "tokens",
        rest_rate_per_s=18.0,
        retry=RetryPolicy(attempts=5, rate_limit_cooldown_s=1.0),
    )


def envelope(
    output: Any = None,
    *,
    rt_cd: str = "0",
    msg_cd: str = "MCA00000",
    msg1: str = "정상처리 되었습니다.",
) -> dict[str, Any]:
    body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1}
    if output is not None:
        body["output"] = output
    return body


class FakeKis:
    """A scriptable KIS for ``httpx.MockTransport``: token endpoints plus queued quote answers."""

    envelope = staticmethod(envelope)

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.token_calls = 0
        self.approval_calls = 0
        self.token_answers: list[tuple[int, dict[str, Any]]] = []  # consumed first, then default
        self.quote_answers: list[Callable[[httpx.Request], httpx.Response] | tuple[int, Any]] = []
        self.default_quote: tuple[int, Any] = (200, envelope({"stck_prpr": "71900"}))
        self.expires_in = 86400

    def token_value(self, n: int) -> str:
        return f"eyJ0eXAiOiJKV1QiLCJhbGciOi-token-{n:04d}-" + "x" * 40

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth2/tokenP":
            self.token_calls += 1
            if self.token_answers:
                status, body = self.token_answers.pop(0)
                return httpx.Response(status, json=body)
            return httpx.Response(
                200,
                json={
                    "access_token": self.token_value(self.token_calls),
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                    "access_token_token_expired": (
                        self.clock.now() + dt.timedelta(seconds=self.expires_in)
                    )
                    .astimezone(dt.timezone(dt.timedelta(hours=9)))
                    .strftime("%Y-%m-%d %H:%M:%S"),
                },
            )
        if request.url.path == "/oauth2/Approval":
            self.approval_calls += 1
            return httpx.Response(
                200, json={"approval_key": f"approval-{self.approval_calls:03d}-" + "a" * 24}
            )
        answer = self.quote_answers.pop(0) if self.quote_answers else self.default_quote
        if callable(answer):
            return answer(request)
        status, body = answer
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, content=json.dumps(body, ensure_ascii=False).encode())

    @property
    def quote_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith("/uapi/")]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


@pytest.fixture
def fake_kis(clock: ManualClock) -> FakeKis:
    return FakeKis(clock)
