"""The loss ledger: one accumulator per collection cycle, one ``LedgerEntry`` when it ends.

Every observation a cycle expects ends in exactly one bucket::

    expected = archived + deduplicated + Σ rejected + Σ dropped + Σ failed

- *received* observations went through the stages: each is archived (``Admitted``, handed
  to the archive), deduplicated, rejected (by ``RejectReason``) or dropped (by
  ``DropReason``);
- *failed* ones never arrived, by ``FailureCause`` (``fail``); whatever is still
  outstanding when the cycle ends is failed with the cause given to ``close`` (``missed``
  by default), so nothing expected can vanish from the books.

More than expected: an observation of a symbol the cycle did not expect (or one more than
it expected of that symbol) is *unexpected*: it is added to ``expected`` as well as to its
outcome bucket and counted in ``unexpected``. Conservation still holds, the extra is
archived if it passes the stages, and the entry shows how often the cycle's plan was wrong.

Programming mistakes raise (``pipeline.LedgerError``): failing more observations of a
symbol than are outstanding (``ConservationError``), a negative count. Bad input never
raises; it is a counted outcome.

Loss, defined once (and in the README)::

    loss      = expected - archived - deduplicated      (= Σ rejected + Σ dropped + Σ failed)
    loss_rate = loss / expected, and 0 when expected == 0

Deduplication is deliberate and not loss.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

from ._errors import ConservationError
from ._model import Environment, FailureCause, LedgerEntry, Mode, Source
from ._outcome import Admitted, Deduplicated, Dropped, Outcome, Rejected

__all__ = ["CycleLedger", "loss_count", "loss_rate"]

#: the ``lost_by_symbol`` key for a snapshot whose symbol is not even a string
INVALID_SYMBOL = "<invalid>"


def loss_count(entries: LedgerEntry | Iterable[LedgerEntry]) -> int:
    """``expected - archived - deduplicated``, summed over ``entries``."""
    if isinstance(entries, LedgerEntry):
        entries = (entries,)
    return sum(e.expected - e.archived - e.deduplicated for e in entries)


def loss_rate(entries: LedgerEntry | Iterable[LedgerEntry]) -> float:
    """Loss over expected, summed over ``entries`` (one entry or many); 0.0 if none expected.

    ``loss = expected - archived - deduplicated``; ``rate = loss / expected``.
    """
    if isinstance(entries, LedgerEntry):
        entries = (entries,)
    expected = 0
    kept = 0
    for e in entries:
        expected += e.expected
        kept += e.archived + e.deduplicated
    return (expected - kept) / expected if expected else 0.0


class CycleLedger:
    """Counts one collection cycle's observations as they are expected, received and failed."""

    __slots__ = (
        "_left",
        "_lost_by",
        "archived",
        "cycle_id",
        "deduplicated",
        "dropped",
        "environment",
        "expected",
        "failed",
        "mode",
        "received",
        "rejected",
        "rest_fallbacks",
        "source",
        "started_at",
        "trading_day",
        "unexpected",
    )

    def __init__(
        self,
        cycle_id: str,
        *,
        mode: Mode,
        source: Source,
        environment: Environment,
        trading_day: dt.date,
        started_at: dt.datetime,
        symbols: Iterable[str] = (),
    ) -> None:
        self.cycle_id = cycle_id
        self.mode = mode
        self.source = source
        self.environment = environment
        self.trading_day = trading_day
        self.started_at = started_at
        self.expected = 0
        self.received = 0
        self.archived = 0
        self.deduplicated = 0
        self.unexpected = 0
        self.rest_fallbacks = 0
        self.rejected: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        # per symbol: expected and neither received nor failed yet (never negative). One
        # dict instead of expected-by and settled-by: one lookup and one store per snapshot
        self._left: dict[str, int] = {}
        self._lost_by: dict[str, int] = {}
        self.expect(symbols)

    # ---------------------------------------------------------------- expectations

    def expect(self, symbols: Iterable[str]) -> None:
        """One more observation of each symbol is expected (a symbol twice → two)."""
        if isinstance(symbols, str):
            raise TypeError(f"expected an iterable of symbols, got the str {symbols!r}")
        by = self._left
        n = 0
        for symbol in symbols:
            if type(symbol) is not str:
                raise TypeError(f"expected symbols are str, got {type(symbol).__name__}")
            by[symbol] = by.get(symbol, 0) + 1
            n += 1
        self.expected += n

    def outstanding(self, symbol: str | None = None) -> int:
        """Expected and neither received nor failed yet (of one symbol, or in all)."""
        if symbol is not None:
            return self._left.get(symbol, 0)
        return self.expected - self.received - sum(self.failed.values())

    # ---------------------------------------------------------------- outcomes

    def record_admitted(self, symbol: str) -> None:
        """Count one received observation that was admitted (the runner's fast path)."""
        left = self._left.get(symbol, 0)
        if left:
            self._left[symbol] = left - 1
        else:
            self.unexpected_one(symbol)
        self.received += 1
        self.archived += 1

    def unexpected_one(self, symbol: str) -> None:
        """One observation of ``symbol`` beyond what was expected: expect it after all."""
        self.expected += 1
        self.unexpected += 1

    def record(self, outcome: Outcome) -> None:
        """Count one received observation under its outcome."""
        symbol = outcome.snapshot.symbol
        if type(symbol) is not str:
            symbol = INVALID_SYMBOL
        left = self._left.get(symbol, 0)
        if left:
            self._left[symbol] = left - 1
        else:
            self.unexpected_one(symbol)
        self.received += 1
        kind = type(outcome)
        if kind is Admitted:
            self.archived += 1
            return
        if kind is Deduplicated:
            self.deduplicated += 1
            return
        if kind is Rejected or kind is Dropped:
            counts = self.rejected if kind is Rejected else self.dropped
            reason = str(outcome.reason)  # type: ignore[union-attr]
            counts[reason] = counts.get(reason, 0) + 1
            self._lost_by[symbol] = self._lost_by.get(symbol, 0) + 1
            return
        raise TypeError(f"not an Outcome: {kind.__name__}")

    def fail(self, cause: FailureCause, symbols: Iterable[str]) -> int:
        """Expected observations that will never arrive, by cause; returns how many.

        All or nothing: raises ``ConservationError`` (and books none) when a symbol is
        failed more often than it is outstanding.
        """
        if type(cause) is not FailureCause:
            raise TypeError(f"cause is a FailureCause, got {type(cause).__name__}")
        if isinstance(symbols, str):
            raise TypeError(f"expected an iterable of symbols, got the str {symbols!r}")
        need = Counter(symbols)
        for symbol in sorted(need):
            outstanding = self.outstanding(symbol)
            if need[symbol] > outstanding:
                raise ConservationError(
                    f"cycle {self.cycle_id!r}: failing {need[symbol]} of {symbol!r} "
                    f"({cause}) but only {outstanding} outstanding"
                )
        return self._book_failed(cause, need)

    def fail_outstanding(self, cause: FailureCause) -> int:
        """Fail everything still outstanding with ``cause``; returns how many."""
        need = {s: n for s, n in self._left.items() if n > 0}
        return self._book_failed(cause, need)

    def _book_failed(self, cause: FailureCause, need: dict[str, int] | Counter[str]) -> int:
        total = 0
        for symbol, n in need.items():
            if n <= 0:
                continue
            self._left[symbol] -= n  # fail() checked that n are outstanding
            self._lost_by[symbol] = self._lost_by.get(symbol, 0) + n
            total += n
        if total:
            self.failed[str(cause)] = self.failed.get(str(cause), 0) + total
        return total

    def rest_fallback(self, count: int = 1) -> None:
        """Scalp observations of this cycle asked over REST for a stale socket (failed ones too)."""
        if count < 0:
            raise ValueError(f"rest fallback count must be >= 0, got {count}")
        self.rest_fallbacks += count

    # ---------------------------------------------------------------- the entry

    @property
    def lost(self) -> int:
        """``expected - archived - deduplicated`` so far (outstanding counts as lost)."""
        return self.expected - self.archived - self.deduplicated

    def check(self) -> None:
        """Raise ``ConservationError`` unless every expected observation is in one bucket."""
        accounted = (
            self.archived
            + self.deduplicated
            + sum(self.rejected.values())
            + sum(self.dropped.values())
            + sum(self.failed.values())
        )
        if accounted != self.expected:
            raise ConservationError(
                f"cycle {self.cycle_id!r}: expected {self.expected} != accounted {accounted}"
            )
        lost = sum(self._lost_by.values())
        if lost != self.lost:
            raise ConservationError(
                f"cycle {self.cycle_id!r}: lost by symbol {lost} != lost {self.lost}"
            )

    def close(
        self,
        ended_at: dt.datetime,
        *,
        outstanding_cause: FailureCause = FailureCause.MISSED,
        seq: int = 0,
    ) -> LedgerEntry:
        """Fail what is still outstanding with ``outstanding_cause``; the cycle's entry."""
        self.fail_outstanding(outstanding_cause)
        self.check()
        return self.entry(ended_at, seq=seq)

    def entry(self, ended_at: dt.datetime, *, seq: int = 0) -> LedgerEntry:
        """The ``LedgerEntry`` as counted so far (``close`` first for a balanced one)."""
        return LedgerEntry(
            seq=seq,
            cycle_id=self.cycle_id,
            mode=self.mode,
            source=self.source,
            environment=self.environment,
            trading_day=self.trading_day,
            started_at=self.started_at,
            ended_at=ended_at,
            expected=self.expected,
            received=self.received,
            archived=self.archived,
            deduplicated=self.deduplicated,
            rejected=dict(sorted(self.rejected.items())),
            dropped=dict(sorted(self.dropped.items())),
            failed=dict(sorted(self.failed.items())),
            lost_by_symbol={s: n for s, n in sorted(self._lost_by.items()) if n > 0},
            rest_fallbacks=self.rest_fallbacks,
            unexpected=self.unexpected,
        )
