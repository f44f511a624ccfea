"""What a stage decides about one snapshot: the ``Outcome`` union and the reason codes.

::

    Outcome = Admitted       passed (the snapshot, enriched once Enrichment has run)
            | Rejected       Validation: malformed or implausible      (loss, by RejectReason)
            | Dropped        Guard: valid but not admitted              (loss, by DropReason)
            | Deduplicated   Guard: the same market content as the last admitted
                             observation of that symbol and mode       (NOT loss)

``Rejected`` and ``Dropped`` say where, like msgspec: a reason code, a JSON path into the
snapshot (``$.last``, ``$.bid_sizes[3]``) and a detail string
("Expected `int`, got `str` - at `$.last`"). The ledger counts by reason code.
"""

from __future__ import annotations

import enum

import msgspec

from ._model import ObservationSnapshot

__all__ = [
    "Admitted",
    "Deduplicated",
    "DropReason",
    "Dropped",
    "Outcome",
    "RejectReason",
    "Rejected",
]


class RejectReason(enum.StrEnum):
    """Why Validation rejected a snapshot (ledger ``rejected`` keys)."""

    WRONG_TYPE = "wrong_type"  # a field holds a value of the wrong type
    NAIVE_TIMESTAMP = "naive_timestamp"  # exchange/receive time without a UTC offset
    MISSING_FIELD = "missing_field"  # a required field is None
    NOT_FINITE = "not_finite"  # NaN or infinity (JSON would turn it into null)
    BAD_SYMBOL = "bad_symbol"  # symbol does not match the configured pattern
    NON_POSITIVE_PRICE = "non_positive_price"  # a price is <= 0
    OUTSIDE_DAY_RANGE = "outside_day_range"  # not low <= last <= high
    OUTSIDE_LIMITS = "outside_limits"  # outside [lower_limit, upper_limit]
    CROSSED_QUOTE = "crossed_quote"  # bid > ask
    NEGATIVE_QUANTITY = "negative_quantity"  # volume, turnover or a size < 0
    MALFORMED_DEPTH = "malformed_depth"  # depth price and size arrays of unequal length
    OUTSIDE_TRADING_DAY = "outside_trading_day"  # exchange time not within the trading day


class DropReason(enum.StrEnum):
    """Why Guard did not admit a valid snapshot (ledger ``dropped`` keys)."""

    CLOCK_SKEW = "clock_skew"  # exchange time too far ahead of receive time
    STALE = "stale"  # exchange time too far behind receive time
    OUT_OF_SESSION = "out_of_session"  # exchange time in a closed session phase
    JUMP = "jump"  # no daily limits, and last beyond the jump band around prev_close / last
    BURST = "burst"  # too many admitted for this symbol and mode in the window


class Admitted(msgspec.Struct, frozen=True, gc=False):
    """The snapshot passed this stage (after Enrichment: with its ``enrichment``)."""

    snapshot: ObservationSnapshot


class Rejected(msgspec.Struct, frozen=True, gc=False):
    """Validation refused the snapshot: counted as loss under ``reason``."""

    snapshot: ObservationSnapshot
    reason: RejectReason
    path: str
    detail: str


class Dropped(msgspec.Struct, frozen=True, gc=False):
    """Guard did not admit the snapshot: counted as loss under ``reason``."""

    snapshot: ObservationSnapshot
    reason: DropReason
    path: str
    detail: str


class Deduplicated(msgspec.Struct, frozen=True, gc=False):
    """Guard found the same market content as the last admitted snapshot (``duplicate_of``)."""

    snapshot: ObservationSnapshot
    duplicate_of: ObservationSnapshot


Outcome = Admitted | Rejected | Dropped | Deduplicated
