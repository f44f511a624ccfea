"""The one boundary where httpx errors become ours, and body decoding shared by auth and REST."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import httpx
import msgspec

from ._errors import KisTimeout, KisTransportError

__all__ = ["HTTPX_ERROR_MAP", "decode_json_object", "translate_http_errors"]

# Every httpx transport error we expect, mapped to our class (a test checks each is mapped).
HTTPX_ERROR_MAP: Final[tuple[tuple[type[httpx.HTTPError], type[KisTransportError]], ...]] = (
    (httpx.TimeoutException, KisTimeout),  # Connect/Read/Write/PoolTimeout
    (httpx.NetworkError, KisTransportError),  # ConnectError, ReadError, WriteError, CloseError
    (httpx.RemoteProtocolError, KisTransportError),
    (httpx.ProxyError, KisTransportError),
    (httpx.UnsupportedProtocol, KisTransportError),
    (httpx.LocalProtocolError, KisTransportError),
    (httpx.DecodingError, KisTransportError),
    (httpx.TooManyRedirects, KisTransportError),
    (httpx.HTTPError, KisTransportError),  # anything else httpx raises
)

_OBJECT_DECODER: Final = msgspec.json.Decoder(dict[str, Any])


@contextmanager
def translate_http_errors(what: str) -> Iterator[None]:
    """Turn httpx exceptions raised inside into ``KisTransportError`` leaves."""
    try:
        yield
    except httpx.HTTPError as exc:
        for foreign, ours in HTTPX_ERROR_MAP:
            if isinstance(exc, foreign):
                raise ours(f"{what}: {type(exc).__name__}: {exc}") from exc
        raise  # unreachable: the map ends with httpx.HTTPError


def decode_json_object(text: str) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        return _OBJECT_DECODER.decode(text)
    except msgspec.DecodeError:
        return None
