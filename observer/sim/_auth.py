"""Credentials, access tokens, approval keys and the REST rate limit, as KIS enforces them.

- ``tokenP``: bad app key/secret → 403 ``EGW00103``; a second call within
  ``token_issue_interval_s`` wall seconds (market seconds with ``rate_in_market_time``)
  → 403 ``EGW00133``; within ``token_reuse_s`` market
  seconds of an issue the same token comes back; tokens live ``token_lifetime_s`` market
  seconds. The answer states the expiry on ``token_expiry_clock``: the market clock, or the
  wall clock for clients that run on it (the lifetime left, in wall seconds, from now).
- REST calls: missing/unknown/revoked token → ``EGW00121``, expired → ``EGW00123`` (HTTP 500,
  ``rt_cd`` "1"); more than ``rest_rate_per_s`` calls per app key in one fixed wall window
  (market window with ``rate_in_market_time``) → ``EGW00201``.
- ``Approval``: approval keys (UUID-shaped, 36 chars) valid ``approval_key_lifetime_s``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from typing import Final, NamedTuple

from pipeline import KST

from ._clock import SimClock
from ._config import SimConfig
from ._rng import derive_key, mix64

__all__ = ["AuthState", "mask", "sim_credentials"]

_B62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_JWT_HEAD: Final = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9"


def _chars(seed_key: int, n: int, alphabet: str = _B62) -> str:
    out = []
    x = seed_key
    for _ in range(n):
        x = mix64(x + 0x9E3779B97F4A7C15)
        out.append(alphabet[x % len(alphabet)])
    return "".join(out)


def sim_credentials(seed: int) -> tuple[str, str]:
    """The (app key, app secret) the simulator of ``seed`` accepts: 36 and 180 characters."""
    key = "PS" + _chars(derive_key(seed, 0xA99), 34)
    secret = _chars(derive_key(seed, 0x5EC), 179) + "="
    return key, secret


def mask(secret: str) -> str:
    """``PSab…`` with the length: enough to tell keys apart, never enough to use one."""
    if len(secret) <= 6:
        return "*" * len(secret)
    return f"{secret[:4]}…({len(secret)} chars)"


class _Token(NamedTuple):
    app_key: str
    issued: dt.datetime
    expires: dt.datetime


class AuthState:
    """Everything the gateway remembers about app keys."""

    def __init__(
        self,
        config: SimConfig,
        clock: SimClock,
        *,
        wall: Callable[[], float] = time.monotonic,
        wall_time: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._config = config
        self._clock = clock
        self.wall = wall
        self.wall_time = wall_time  # the real date and time, for ``token_expiry_clock`` wall
        key, secret = sim_credentials(config.seed)
        self.app_key = config.app_key or key
        self.app_secret = config.app_secret or secret
        self.credentials: dict[str, str] = {self.app_key: self.app_secret}
        self._tokens: dict[str, _Token] = {}
        self._revoked: set[str] = set()
        self._current: dict[str, str] = {}  # app key -> latest token
        self._last_issue: dict[str, float] = {}  # on the throttle's clock
        self._approvals: dict[str, tuple[str, dt.datetime]] = {}
        self._counter = 0
        self._windows: dict[str, tuple[int, int]] = {}
        self.burst_until_wall = 0.0
        self.tokens_issued = 0

    def add_credentials(self, app_key: str, app_secret: str) -> None:
        """Accept another app key (tests of several keys)."""
        self.credentials[app_key] = app_secret

    def _next(self) -> int:
        self._counter += 1
        return derive_key(self._config.seed, 0x70C, self._counter)

    # -- tokens ----------------------------------------------------------------------------

    def check_credentials(self, app_key: str | None, app_secret: str | None) -> bool:
        return app_key is not None and self.credentials.get(app_key) == app_secret

    def issue_token(self, app_key: str) -> tuple[int, dict[str, object]]:
        """(HTTP status, body) of a ``tokenP`` call with valid credentials."""
        # the throttle counts on the rate limit's clock: a compressed day's client waits out
        # the minute in market time, and would otherwise be refused for ``speed`` minutes
        counted = self._clock.monotonic() if self._config.rate_in_market_time else self.wall()
        interval = self._config.token_issue_interval_s
        last = self._last_issue.get(app_key)
        if interval > 0 and last is not None and counted - last < interval:
            return 403, {
                "error_code": "EGW00133",
                "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
            }
        self._last_issue[app_key] = counted
        now = self._clock.now()
        current = self._current.get(app_key)
        tok = self._tokens.get(current) if current else None
        if (
            current is not None
            and tok is not None
            and current not in self._revoked
            and (now - tok.issued).total_seconds() < self._config.token_reuse_s
            and now < tok.expires
        ):
            token, info = current, tok
        else:
            token = self._make_token(app_key, now)
            info = _Token(app_key, now, now + dt.timedelta(seconds=self._config.token_lifetime_s))
            self._tokens[token] = info
            self._current[app_key] = token
            self.tokens_issued += 1
        remaining = max(0, int((info.expires - now).total_seconds()))
        expires = info.expires
        if self._config.token_expiry_clock == "wall":  # the client's clock is the real one
            remaining = int(self._clock.to_wall(remaining))
            expires = self.wall_time() + dt.timedelta(seconds=remaining)
        return 200, {
            "access_token": token,
            "access_token_token_expired": expires.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S"),
            "token_type": "Bearer",
            "expires_in": remaining,
        }

    def _make_token(self, app_key: str, now: dt.datetime) -> str:
        n = self._next()
        iat = int(now.timestamp())
        claims = {
            "sub": "token",
            "aud": _chars(n, 36),
            "prdt_cd": "",
            "iss": "unogw",
            "exp": iat + self._config.token_lifetime_s,
            "iat": iat,
            "jti": hashlib.sha256(app_key.encode()).hexdigest()[:36],
        }
        payload = json.dumps(claims, separators=(",", ":"))
        body = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
        sig = base64.urlsafe_b64encode(hashlib.sha512(f"{n}".encode()).digest()).rstrip(b"=")
        return f"{_JWT_HEAD}.{body}.{sig.decode()}"

    def revoke(self, token: str) -> bool:
        if token in self._tokens:
            self._revoked.add(token)
            return True
        return False

    def revoke_all(self) -> int:
        self._revoked.update(self._tokens)
        return len(self._tokens)

    def expire_all(self) -> int:
        past = self._clock.now() - dt.timedelta(seconds=1)
        for token, info in list(self._tokens.items()):
            self._tokens[token] = info._replace(expires=min(info.expires, past))
        return len(self._tokens)

    def check_token(self, authorization: str | None, app_key: str) -> str | None:
        """``None`` when the bearer token is good for ``app_key``, else the KIS msg_cd."""
        if not authorization or not authorization.startswith("Bearer "):
            return "EGW00121"
        token = authorization[len("Bearer ") :].strip()
        info = self._tokens.get(token)
        if info is None or token in self._revoked or info.app_key != app_key:
            return "EGW00121"
        if self._clock.now() >= info.expires:
            return "EGW00123"
        return None

    # -- approval keys ---------------------------------------------------------------------

    def issue_approval(self, app_key: str) -> str:
        h = f"{self._next():016x}{self._next():016x}"
        key = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        expires = self._clock.now() + dt.timedelta(seconds=self._config.approval_key_lifetime_s)
        self._approvals[key] = (app_key, expires)
        if len(self._approvals) > 10_000:  # bounded: forget the oldest
            self._approvals.pop(next(iter(self._approvals)))
        return key

    def approval_app_key(self, approval_key: str | None) -> str | None:
        """The app key behind a valid approval key, else ``None``."""
        if not approval_key:
            return None
        found = self._approvals.get(approval_key)
        if found is None or self._clock.now() >= found[1]:
            return None
        return found[0]

    # -- rate limit ------------------------------------------------------------------------

    def admit(self, app_key: str) -> bool:
        """Count one REST call in the app key's current window; ``False`` = over the limit."""
        limit = self._config.rest_rate_per_s
        now_wall = self.wall()
        if now_wall < self.burst_until_wall:
            return False
        if limit <= 0:
            return True
        now = self._clock.monotonic() if self._config.rate_in_market_time else now_wall
        window = int(now // self._config.rate_window_s)
        current, count = self._windows.get(app_key, (window, 0))
        if current != window:
            count = 0
        if count >= limit:
            self._windows[app_key] = (window, count)
            return False
        self._windows[app_key] = (window, count + 1)
        return True
