"""The base of every error the ``observer`` package raises.

One tree; each layer has a middle base and each adapter hangs its leaves under those::

    ObserverError                 anything raised on purpose by observer.*
    ├── ConfigError      a setting is missing or malformed (names the setting, never its value)
    ├── AuthError        the broker refused or could not issue credentials
    ├── ProtocolError    the peer answered, but not as asked (error codes, bad frames)
    ├── TransportError   the network failed us (connect, timeout, reset, 5xx)
    ├── ConversionError  a received value cannot become an event field (reason + path)
    └── CollectionError  a collection cycle cannot run (scheduling, shutdown, overrun)

Leaves live beside the code that raises them (``observer.kis._errors`` for KIS). Foreign
exceptions (httpx, websockets, OS errors) are translated into this tree at one boundary per
adapter; nothing outside that boundary sees a foreign exception.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "CollectionError",
    "ConfigError",
    "ConversionError",
    "ObserverError",
    "ProtocolError",
    "TransportError",
]


class ObserverError(Exception):
    """Base of every error raised on purpose by ``observer``."""


class ConfigError(ObserverError):
    """A setting is missing or malformed. The message names the setting, never its value."""


class AuthError(ObserverError):
    """The broker refused our credentials or could not issue a token or key."""


class ProtocolError(ObserverError):
    """The peer answered, but not with what we asked for."""


class TransportError(ObserverError):
    """The network failed: connect, timeout, reset, or a server error before an answer."""


class ConversionError(ObserverError):
    """A received value cannot become an event field.

    ``reason`` is a short stable code (counted by the ledger), ``path`` says where the value
    was, like ``$.output.stck_prpr`` or ``H0STCNT0[2].STCK_PRPR``.
    """

    def __init__(self, reason: str, path: str, detail: str = "") -> None:
        self.reason = reason
        self.path = path
        self.detail = detail
        message = f"{reason} at {path}"
        super().__init__(f"{message}: {detail}" if detail else message)


class CollectionError(ObserverError):
    """A collection cycle cannot run as scheduled."""
