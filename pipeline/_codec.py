"""One encoder/decoder per record type, built once and reused (msgspec perf tips).

Encoding is ``order="deterministic"``: dict keys are sorted, so the same record gives the
same bytes whatever the insertion order of its count-by-reason dicts.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ._model import LedgerEntry, ObservationSnapshot, RawEvent

__all__ = [
    "DECODE_ERRORS",
    "ENCODER",
    "LEDGER_DECODER",
    "RAW_DECODER",
    "SNAPSHOT_DECODER",
    "encode",
]

ENCODER: Final = msgspec.json.Encoder(order="deterministic")
SNAPSHOT_DECODER: Final = msgspec.json.Decoder(ObservationSnapshot)
RAW_DECODER: Final = msgspec.json.Decoder(RawEvent)
LEDGER_DECODER: Final = msgspec.json.Decoder(LedgerEntry)

#: What decoding bytes from outside (a file, a socket) may raise for bad input. msgspec
#: raises ``UnicodeDecodeError``, not ``DecodeError``, for bytes that are not UTF-8 inside a
#: JSON string, so catching ``DecodeError`` alone lets one bad byte escape as a crash.
DECODE_ERRORS: Final = (msgspec.DecodeError, UnicodeDecodeError)


def encode(record: object) -> bytes:
    """Deterministic JSON bytes of a record (no trailing newline)."""
    return ENCODER.encode(record)
