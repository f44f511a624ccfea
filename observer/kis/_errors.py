"""Errors of the KIS adapter, hung on the ``observer`` tree.

::

    ObserverError
    ├── ConfigError
    │   └── KisConfigError              missing/malformed KIS_* setting (names it, never its value)
    ├── AuthError
    │   ├── KisAuthRejected             bad app key/secret, no permission (fatal)
    │   └── KisTokenThrottled           EGW00133 not cleared within the deadline
    ├── ProtocolError
    │   ├── KisApiError                 rt_cd != "0", not retried
    │   │   ├── KisRateLimited          EGW00201 / EGW00215 (cooldown, retry)
    │   │   └── KisTokenInvalid         EGW00121 / EGW00122 / EGW00123 (refresh once, retry)
    │   ├── KisResponseError            the body is not the JSON envelope we expect
    │   └── KisWsError                  WebSocket control-plane failure
    │       ├── KisWsAckError           a subscribe/unsubscribe ack with an error msg_cd
    │       ├── KisSessionInUse         OPSP8996: another session holds this app key
    │       ├── KisSubscriptionLimit    over 41 registrations / OPSP0008
    │       └── KisFrameError           a frame that is neither a data frame nor control JSON
    ├── TransportError
    │   └── KisTransportError           connect/read/write failures
    │       ├── KisTimeout
    │       └── KisServerError          HTTP 5xx without a KIS msg_cd (retry with backoff)
    └── ConversionError
        └── KisConversionError          a KIS value cannot become a snapshot field (reason + path)

``KisError`` is mixed into every leaf so that ``except KisError`` catches the adapter's errors
only. Foreign errors (httpx, websockets, OSError) are translated in
``observer.kis._rest.translate_http_errors`` and the WS client's connect loop.
"""

from __future__ import annotations

from .._errors import (
    AuthError,
    ConfigError,
    ConversionError,
    ProtocolError,
    TransportError,
)

__all__ = [
    "KisApiError",
    "KisAuthRejected",
    "KisConfigError",
    "KisConversionError",
    "KisError",
    "KisFrameError",
    "KisRateLimited",
    "KisResponseError",
    "KisServerError",
    "KisSessionInUse",
    "KisSubscriptionLimit",
    "KisTimeout",
    "KisTokenInvalid",
    "KisTokenThrottled",
    "KisTransportError",
    "KisWsAckError",
    "KisWsError",
]


class KisError(Exception):
    """Mixed into every KIS adapter error."""


class KisConfigError(KisError, ConfigError):
    """A KIS setting is missing or malformed; ``setting`` is its name (never its value)."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class KisAuthRejected(KisError, AuthError):
    """KIS refused the credentials (bad app key/secret, no permission). Fatal: fix the config."""

    def __init__(self, code: str, message: str, *, status: int, endpoint: str) -> None:
        self.code = code
        self.status = status
        self.endpoint = endpoint
        super().__init__(
            f"KIS rejected the credentials at {endpoint} "
            f"(HTTP {status}, {code}: {message.strip()}); "
            "check KIS_APP_KEY/KIS_APP_SECRET and the API permissions for this environment"
        )


class KisTokenThrottled(KisError, AuthError):
    """Token issuance stayed throttled (EGW00133, 1 per minute) past the deadline."""


class KisApiError(KisError, ProtocolError):
    """KIS answered ``rt_cd != "0"``; ``msg_cd``/``msg1`` as sent, ``status`` the HTTP status."""

    def __init__(self, msg_cd: str, msg1: str, *, status: int, tr_id: str, path: str) -> None:
        self.msg_cd = msg_cd
        self.msg1 = msg1
        self.status = status
        self.tr_id = tr_id
        self.path = path
        super().__init__(f"{tr_id} {path}: HTTP {status} {msg_cd} {msg1.strip()}")


class KisRateLimited(KisApiError):
    """Per-second request limit hit (EGW00201, EGW00215): cool down and retry."""


class KisTokenInvalid(KisApiError):
    """The token is expired or invalid (EGW00121/EGW00122/EGW00123): refresh once, retry."""


class KisResponseError(KisError, ProtocolError):
    """The response body is not the JSON envelope we expect."""


class KisWsError(KisError, ProtocolError):
    """WebSocket control-plane failure."""


class KisWsAckError(KisWsError):
    """A subscribe/unsubscribe ack carried an error ``msg_cd``."""

    def __init__(self, msg_cd: str, msg1: str, *, tr_id: str, tr_key: str) -> None:
        self.msg_cd = msg_cd
        self.msg1 = msg1
        self.tr_id = tr_id
        self.tr_key = tr_key
        super().__init__(f"{tr_id}/{tr_key}: {msg_cd} {msg1.strip()}")


class KisSessionInUse(KisWsAckError):
    """OPSP8996: another WebSocket session holds this app key; back off before reconnecting."""


class KisSubscriptionLimit(KisWsError):
    """More registrations than KIS allows per app key (41)."""


class KisFrameError(KisWsError):
    """A WebSocket message that is neither a data frame nor control JSON."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


class KisTransportError(KisError, TransportError):
    """Connect, read or write failed."""


class KisTimeout(KisTransportError):
    """The request or connection timed out."""


class KisServerError(KisTransportError):
    """HTTP 5xx with no KIS ``msg_cd`` in the body."""

    def __init__(self, status: int, *, tr_id: str, path: str) -> None:
        self.status = status
        super().__init__(f"{tr_id} {path}: HTTP {status} without a KIS error code")


class KisConversionError(KisError, ConversionError):
    """A KIS value cannot become a snapshot field."""
