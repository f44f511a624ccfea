"""The errors ``pipeline`` raises on purpose.

Bad *input* (a malformed snapshot) is never an exception: it becomes a counted ``Rejected``
or ``Dropped`` outcome. These errors mean a caller broke the contract (a programming
mistake) or a config file is wrong::

    PipelineError                  anything raised on purpose by pipeline.*
    ├── PipelineConfigError        a config mapping or TOML file does not decode (names the path)
    └── LedgerError                the loss accounting was driven wrongly
        ├── UnknownCycleError      a cycle id that was never begun, or has already ended
        ├── DuplicateCycleError    begin_cycle twice with one cycle id while it is open
        └── ConservationError      a call would make the books not balance (e.g. failing
                                   more observations of a symbol than are outstanding)
"""

from __future__ import annotations

__all__ = [
    "ConservationError",
    "DuplicateCycleError",
    "LedgerError",
    "PipelineConfigError",
    "PipelineError",
    "UnknownCycleError",
]


class PipelineError(Exception):
    """Base of every error raised on purpose by ``pipeline``."""


class PipelineConfigError(PipelineError):
    """The pipeline config does not decode; the message carries msgspec's field path."""


class LedgerError(PipelineError):
    """The loss ledger was driven in a way that breaks its contract."""


class UnknownCycleError(LedgerError):
    """No open collection cycle has this id."""


class DuplicateCycleError(LedgerError):
    """A collection cycle with this id is already open."""


class ConservationError(LedgerError):
    """The call would break expected = archived + deduplicated + rejected + dropped + failed."""
