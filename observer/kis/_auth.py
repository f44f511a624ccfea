"""Access tokens and WebSocket approval keys (shared/reference/kis-protocol.md §2).

- ``POST /oauth2/tokenP`` with ``grant_type``/``appkey``/``appsecret``. The token is cached on
  disk (mode 0600, one file per app-key hash and environment) and in memory, and reused until
  fewer than ``token_refresh_margin_s`` seconds are left (python-kis: 10 min).
- Issuance is throttled by KIS to one call per minute per app key, counted from when KIS
  received the call. We count the minute from when its answer reached us (the latest KIS can
  have stamped it) plus a 1/60 margin, so the next call never arrives early however long the
  last one travelled. An ``EGW00133`` answer (a stamp we did not make: another process, a
  restart without the cache) is waited out a whole interval (and the margin) at a time, up
  to a bounded deadline: never more than one call a minute, because repeated violations
  have been reported to turn into ``EGW00103`` (a refused app key) for a while.
- ``refresh(rejected)`` is what the REST client calls after EGW00121/EGW00123: it issues a new
  token once, and concurrent callers holding the same rejected token share that one issuance.
- ``POST /oauth2/Approval`` with ``secretkey`` (not ``appsecret``) gives the WebSocket key.
- The expiry is the earlier of ``expires_in`` (relative, so immune to a server whose clock is
  not ours) and the stated ``access_token_token_expired``; a stated time already past at issue
  says the server's clock is not ours (a simulator replaying another day), so it is ignored
  for ``expires_in`` and logged once (``kis_token_expiry_past``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
import msgspec

from pipeline import DECODE_ERRORS, KST, Environment

from ._clock import Clock, SystemClock
from ._config import KisConfig
from ._errors import KisAuthRejected, KisResponseError, KisTokenThrottled, KisTransportError
from ._http import decode_json_object, translate_http_errors
from ._secrets import Secret

__all__ = ["AccessToken", "KisAuth", "TokenCache"]

log = logging.getLogger("observer.kis.auth")

TOKEN_PATH: Final = "/oauth2/tokenP"
APPROVAL_PATH: Final = "/oauth2/Approval"
THROTTLE_CODE: Final = "EGW00133"
APPROVAL_MAX_AGE_S: Final = 23 * 3600.0  # valid 24 h; renew an hour early
_EXPIRED_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
#: the minute is counted from our receipt of the answer plus this share of it (1 s of 60 s)
ISSUE_MARGIN_SHARE: Final = 1 / 60


class AccessToken(msgspec.Struct, frozen=True, kw_only=True):
    """An issued access token; ``value`` is a ``Secret``."""

    value: Secret
    token_type: str
    issued_at: dt.datetime  # UTC
    expires_at: dt.datetime  # UTC

    def seconds_left(self, now: dt.datetime) -> float:
        return (self.expires_at - now).total_seconds()


class _CachedToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    environment: str
    app_key_sha256: str
    access_token: str
    token_type: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    #: the REST base URL that issued it (absent in files of earlier versions: any issuer)
    issuer: str | None = None


def _app_key_hash(app_key: Secret) -> str:
    return hashlib.sha256(app_key.reveal().encode()).hexdigest()


class TokenCache:
    """One JSON file per (app key hash, environment), written atomically with mode 0600.

    A token is only handed back to the server that issued it (``issuer``, the REST base
    URL): a live or paper host never changes, but every simulator that starts (on a port of
    its own, with the same seed-derived key) issues its own tokens, and presenting the last
    one's cost a round of rejections at the first cycle.
    """

    def __init__(
        self,
        directory: Path,
        *,
        environment: Environment,
        app_key: Secret,
        issuer: str | None = None,
    ) -> None:
        self.directory = directory
        self.environment = environment
        self.issuer = issuer
        self._key_hash = _app_key_hash(app_key)
        self.path = directory / f"kis-token-{environment.value}-{self._key_hash[:16]}.json"

    def load(self) -> AccessToken | None:
        """The cached token, or None when absent, unreadable, foreign or corrupt."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        try:
            cached = msgspec.json.decode(data, type=_CachedToken)
        except DECODE_ERRORS:
            log.warning("token_cache_corrupt", extra={"path": str(self.path)})
            return None
        if cached.environment != self.environment.value or cached.app_key_sha256 != self._key_hash:
            return None
        if cached.issuer is not None and cached.issuer != self.issuer:
            return None
        return AccessToken(
            value=Secret(cached.access_token),
            token_type=cached.token_type,
            issued_at=cached.issued_at,
            expires_at=cached.expires_at,
        )

    def store(self, token: AccessToken) -> None:
        """Write the token (0600, via a temporary file and rename; the directory is 0700)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = msgspec.json.encode(
            _CachedToken(
                environment=self.environment.value,
                app_key_sha256=self._key_hash,
                access_token=token.value.reveal(),
                token_type=token.token_type,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                issuer=self.issuer,
            )
        )
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(
                fd, 0o600
            )  # O_CREAT's mode is filtered by umask and ignored for existing files
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class KisAuth:
    """Issues, caches and refreshes the access token and the approval key of one app key."""

    def __init__(
        self,
        config: KisConfig,
        http: httpx.AsyncClient,
        *,
        clock: Clock | None = None,
        cache: TokenCache | None = None,
        use_disk_cache: bool = True,
    ) -> None:
        self._config = config
        self._http = http
        self._clock: Clock = clock or SystemClock()
        if cache is None and use_disk_cache and config.token_cache_dir is not None:
            cache = TokenCache(
                config.token_cache_dir,
                environment=config.environment,
                app_key=config.app_key,
                issuer=config.rest_url,
            )
        self.cache = cache
        self._token: AccessToken | None = None
        self._loaded = False
        self._last_issue_at: dt.datetime | None = None
        self._lock = anyio.Lock()
        self._approval: tuple[Secret, dt.datetime] | None = None
        self._approval_lock = anyio.Lock()
        self.tokens_issued = 0
        self.throttle_waits = 0
        self._past_expiry_logged = False  # kis_token_expiry_past is logged once
        self.approval_keys_issued = 0

    # ------------------------------------------------------------------ access token

    @property
    def current(self) -> AccessToken | None:
        return self._token

    @property
    def has_usable_token(self) -> bool:
        """A token is at hand and unexpired: requests can be sent now (none while a rejected
        token's replacement is being issued, or throttled)."""
        token = self._token
        return token is not None and token.seconds_left(self._clock.now()) > 0

    def _load_cached(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.cache is not None and self._token is None:
            token = self.cache.load()
            if token is not None:
                self._token = token
                self._last_issue_at = token.issued_at
                log.info(
                    "kis_token_cache_hit",
                    extra={"expires_at": token.expires_at.isoformat()},
                )

    async def access_token(self) -> Secret:
        """A token with more than the refresh margin left (issued or re-issued when needed)."""
        self._load_cached()
        now = self._clock.now()
        token = self._token
        if token is not None and token.seconds_left(now) > self._config.token_refresh_margin_s:
            return token.value
        async with self._lock:
            now = self._clock.now()
            token = self._token
            if token is not None:
                left = token.seconds_left(now)
                if left > self._config.token_refresh_margin_s:
                    return token.value  # another task re-issued it while we waited
                if left > 0 and self._throttle_wait(now) > 0:
                    return token.value  # still valid; re-issue after the throttle minute
            try:
                return (await self._issue()).value
            except (KisTokenThrottled, KisTransportError):
                if token is not None and token.seconds_left(self._clock.now()) > 0:
                    log.warning("kis_token_reissue_deferred", extra={"seconds_left": left})
                    return token.value
                raise

    async def refresh(self, rejected: Secret | None) -> Secret:
        """A new token after KIS rejected ``rejected`` (EGW00121/EGW00123); one issuance for all."""
        async with self._lock:
            token = self._token
            if token is not None and rejected is not None and token.value != rejected:
                return token.value  # someone already replaced the rejected token
            self._token = None
            self._loaded = True
            if self.cache is not None:
                self.cache.clear()
            log.info("kis_token_refresh", extra={"reason": "rejected by server"})
            return (await self._issue()).value

    def _throttle_wait(self, now: dt.datetime) -> float:
        if self._last_issue_at is None:
            return 0.0
        interval = self._config.token_issue_interval_s
        margin = interval * ISSUE_MARGIN_SHARE
        return interval + margin - (now - self._last_issue_at).total_seconds()

    def _check_deadline(self, wait: float, deadline: float) -> None:
        if self._clock.monotonic() + wait > deadline:
            raise KisTokenThrottled(
                f"token issuance throttled (1/min); {wait:.0f}s more would pass the "
                f"{self._config.token_throttle_deadline_s:.0f}s deadline"
            )

    async def _issue(self) -> AccessToken:
        deadline = self._clock.monotonic() + self._config.token_throttle_deadline_s
        while True:
            wait = self._throttle_wait(self._clock.now())
            if wait > 0:
                self._check_deadline(wait, deadline)
                self.throttle_waits += 1
                log.info("kis_token_throttle_wait", extra={"wait_s": round(wait, 3)})
                await self._clock.sleep(wait)
            body = {
                "grant_type": "client_credentials",
                "appkey": self._config.app_key.reveal(),
                "appsecret": self._config.app_secret.reveal(),
            }
            try:
                with translate_http_errors("POST /oauth2/tokenP"):
                    response = await self._http.post(
                        TOKEN_PATH,
                        json=body,
                        headers={"content-type": "application/json; charset=utf-8"},
                    )
            except KisTransportError:
                self._last_issue_at = self._clock.now()  # KIS may have issued one unseen
                raise
            data = decode_json_object(response.text)
            code = _error_code(data)
            if code == THROTTLE_CODE:
                # a stamp we did not make (another process, a restart), somewhere in the last
                # interval: a sooner retry could be a repeated violation (reportedly EGW00103
                # for a while, shared/reference/kis-protocol.md §2.1), so wait it all out
                interval = self._config.token_issue_interval_s
                wait = max(1.0, interval + interval * ISSUE_MARGIN_SHARE)
                log.warning(
                    "kis_token_throttled",
                    extra={"code": code, "status": response.status_code, "wait_s": wait},
                )
                self._check_deadline(wait, deadline)
                self.throttle_waits += 1
                await self._clock.sleep(wait)
                continue
            # KIS stamped any issue when the call arrived: no later than now
            self._last_issue_at = self._clock.now()
            if response.status_code != 200 or data is None or "access_token" not in data:
                raise _auth_failure(response, data, TOKEN_PATH)
            token = self._token_from(data)
            self._token = token
            self.tokens_issued += 1
            if self.cache is not None:
                self.cache.store(token)
            log.info(
                "kis_token_issued",
                extra={
                    "expires_at": token.expires_at.isoformat(),
                    "environment": self._config.environment.value,
                },
            )
            return token

    def _token_from(self, data: dict[str, Any]) -> AccessToken:
        now = self._clock.now()
        value = data.get("access_token")
        if not isinstance(value, str) or not value:
            raise KisResponseError("tokenP answered without an access_token string")
        expires_at: dt.datetime | None = None
        expires_in = data.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            expires_at = now + dt.timedelta(seconds=float(expires_in))
        stated = data.get("access_token_token_expired")
        if isinstance(stated, str) and stated:
            try:
                kst = dt.datetime.strptime(stated, _EXPIRED_FORMAT).replace(tzinfo=KST)
            except ValueError:
                log.warning(
                    "kis_token_expiry_unparsed", extra={"field": "access_token_token_expired"}
                )
            else:
                stated_utc = kst.astimezone(dt.UTC)
                if expires_at is None:
                    expires_at = stated_utc
                elif stated_utc > now:
                    expires_at = min(expires_at, stated_utc)
                elif not self._past_expiry_logged:  # another clock than ours: expires_in holds
                    self._past_expiry_logged = True
                    log.warning(
                        "kis_token_expiry_past",
                        extra={"stated": stated, "now": now.isoformat(), "expires_in": expires_in},
                    )
        if expires_at is None:
            raise KisResponseError(
                "tokenP answered without expires_in or access_token_token_expired"
            )
        return AccessToken(
            value=Secret(value),
            token_type=str(data.get("token_type") or "Bearer"),
            issued_at=now,
            expires_at=expires_at,
        )

    # ------------------------------------------------------------------ approval key

    async def approval_key(self, *, fresh: bool = False) -> Secret:
        """The WebSocket approval key (issued at most once per 23 h unless ``fresh``)."""
        async with self._approval_lock:
            now = self._clock.now()
            if (
                not fresh
                and self._approval is not None
                and (now - self._approval[1]).total_seconds() < APPROVAL_MAX_AGE_S
            ):
                return self._approval[0]
            body = {
                "grant_type": "client_credentials",
                "appkey": self._config.app_key.reveal(),
                "secretkey": self._config.app_secret.reveal(),
            }
            with translate_http_errors("POST /oauth2/Approval"):
                response = await self._http.post(
                    APPROVAL_PATH, json=body, headers={"content-type": "application/json; utf-8"}
                )
            data = decode_json_object(response.text)
            key = data.get("approval_key") if data is not None else None
            if response.status_code != 200 or not isinstance(key, str) or not key:
                raise _auth_failure(response, data, APPROVAL_PATH)
            secret = Secret(key)
            self._approval = (secret, now)
            self.approval_keys_issued += 1
            log.info("kis_approval_key_issued")
            return secret


def _error_code(data: dict[str, Any] | None) -> str:
    if data is None:
        return ""
    code = data.get("error_code") or data.get("msg_cd") or ""
    return code if isinstance(code, str) else ""


def _auth_failure(
    response: httpx.Response, data: dict[str, Any] | None, endpoint: str
) -> Exception:
    status = response.status_code
    code = _error_code(data)
    message = ""
    if data is not None:
        raw = data.get("error_description") or data.get("msg1") or ""
        message = raw if isinstance(raw, str) else ""
    if status >= 500:
        return KisTransportError(f"POST {endpoint}: HTTP {status}")
    if data is None:
        return KisResponseError(f"POST {endpoint}: HTTP {status}, body is not a JSON object")
    return KisAuthRejected(
        code or "(no code)", message or "(no message)", status=status, endpoint=endpoint
    )
