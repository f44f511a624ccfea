"""One encoder/decoder per record type, built once and reused (msgspec perf tips).

Encoding is ``order="deterministic"``: dict keys are sorted, so the same record gives the
same bytes whatever the insertion order of its count-by-reason dicts.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ._model import LedgerEntry, ObservationSnapshot, RawEvent

__all__ = [
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


def encode(record: object) -> bytes:
    """Deterministic JSON bytes of a record (no trailing newline)."""
    return ENCODER.encode(record)
