"""Fault injection: what can go wrong, on demand, and the switchboard the servers consult.

Kinds (``FaultKind``): ``disconnect`` (close WebSocket sessions; ``abrupt`` drops the TCP
connection with no close frame), ``silence`` (the session stays open and nothing is sent for
``duration_s`` market seconds), ``malformed_frame`` (an extra frame that is not valid KIS),
``short_frame`` / ``long_frame`` (the next ``count`` data frames carry records with too few /
extra trailing fields), ``http_5xx`` (the next ``count`` REST requests answer ``status`` with a
non-JSON body), ``latency`` (REST answers are delayed ``latency_ms`` for ``duration_s`` market
seconds, or for the next ``count`` requests), ``revoke_tokens`` / ``expire_tokens`` (every
issued access token becomes invalid: EGW00121 / EGW00123), ``rate_limit_burst`` (every REST
window counts as full for ``duration_s``: EGW00201), ``drop_pong`` (client PINGPONG echoes are
ignored for ``duration_s``, so the client gets dropped).

Every fault, when it fires, is written to the ground-truth log with its market time.
"""

from __future__ import annotations

import datetime as dt
import enum

import msgspec

__all__ = ["FaultKind", "FaultSpec"]


class FaultKind(enum.StrEnum):
    DISCONNECT = "disconnect"
    SILENCE = "silence"
    MALFORMED_FRAME = "malformed_frame"
    SHORT_FRAME = "short_frame"
    LONG_FRAME = "long_frame"
    HTTP_5XX = "http_5xx"
    LATENCY = "latency"
    REVOKE_TOKENS = "revoke_tokens"
    EXPIRE_TOKENS = "expire_tokens"
    RATE_LIMIT_BURST = "rate_limit_burst"
    DROP_PONG = "drop_pong"


class FaultSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One fault: what, when (market time on the trading day, or at once), how much."""

    kind: FaultKind
    #: KST market time on the simulated day at which it fires; ``None`` = at once
    at: dt.time | None = None
    #: market seconds (silence, latency, rate_limit_burst, drop_pong)
    duration_s: float = 0.0
    #: how many (frames, requests)
    count: int = 1
    #: WebSocket session id; ``None`` = every session
    session: int | None = None
    #: HTTP status for ``http_5xx``
    status: int = 502
    latency_ms: int = 0
    #: extra trailing fields for ``long_frame``
    extra_fields: int = 3
    #: ``disconnect`` without a close frame (TCP abort)
    abrupt: bool = False

    def __post_init__(self) -> None:
        if self.duration_s < 0 or self.count < 0 or self.latency_ms < 0:
            raise ValueError("fault durations and counts must be >= 0")
        if self.kind is FaultKind.HTTP_5XX and not 500 <= self.status <= 599:
            raise ValueError(f"http_5xx status must be 5xx, got {self.status}")
