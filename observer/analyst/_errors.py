"""Errors of the analyst tools (replay, report, verify, rederive).

Part of the ``observer`` tree::

    ObserverError
    └── AnalystError              an analyst command cannot do what was asked
        ├── NotAnArchiveError     the root is missing or holds no snapshots/, raw/ or ledger/
        ├── NoSuchDataError       the filters select no partition (the message lists what exists)
        └── ProjectionFailedError rederive: the projection raised on a journal event (names it)

Archive damage is reported with the archive's own errors (``archive.ArchiveFormatError`` and
its leaves name the file and byte offset); the command line turns both trees into one-line
messages and an exit status, never a traceback.
"""

from __future__ import annotations

from observer._errors import ObserverError

__all__ = ["AnalystError", "NoSuchDataError", "NotAnArchiveError", "ProjectionFailedError"]


class AnalystError(ObserverError):
    """An analyst command cannot do what was asked."""


class NotAnArchiveError(AnalystError):
    """The root does not exist or holds no archive family directory."""


class NoSuchDataError(AnalystError):
    """The date, mode and source filters select no partition."""


class ProjectionFailedError(AnalystError):
    """The projection raised while re-deriving; the message names the raw event."""
