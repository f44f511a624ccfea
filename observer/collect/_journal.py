"""The journal: number a raw event, project it, and hand both to the archive over one stream.

``Journal.append(event)`` is the only way a collector records anything. Under one lock it

1. gives the event the next raw ``seq`` (one counter for the whole journal, so sorting the
   day's raw partitions by ``seq`` restores the exact order the projection saw),
2. feeds it to the ``Projector`` (journal first, then project),
3. sends the event, then its snapshots and ledger entries, down one bounded stream to the
   archive sink, in that order (so a partition never sees a seq go backwards).

The stream is bounded: when the archive falls behind, ``append`` waits (backpressure,
counted in ``RunStatus.streams["archive"]``) rather than queue without limit.

``run_archive_sink`` is the one task that owns the ``ArchiveWriter``: it appends every record,
flushes a frame at every cycle end (a ledger entry) and polls the writer at least every
``poll_s`` wall seconds so a quiet partition still gets its frame within a second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream

from pipeline import LedgerEntry, ObservationSnapshot, RawEvent, WsFrame, loss_count

from ..status import MeteredSendStream, RunStatus
from ._projection import Projected, Projector

if TYPE_CHECKING:  # pragma: no cover
    from archive import ArchiveWriter

__all__ = ["ArchiveRecord", "Journal", "run_archive_sink"]

ArchiveRecord = RawEvent | ObservationSnapshot | LedgerEntry

_log = logging.getLogger(__name__)


class Journal:
    """Numbers, projects and forwards raw events (see the module doc)."""

    def __init__(
        self,
        projector: Projector,
        sink: MeteredSendStream[ArchiveRecord],
        status: RunStatus,
        *,
        next_seq: int = 1,
    ) -> None:
        self.projector = projector
        self._sink = sink
        self._status = status
        self._next_seq = next_seq
        self._lock = anyio.Lock()

    @property
    def next_seq(self) -> int:
        return self._next_seq

    async def append(
        self, event: RawEvent | Callable[[], RawEvent], *, then: Callable[[], None] | None = None
    ) -> list[Projected]:
        """Journal ``event`` (its ``seq`` is replaced) and return what it projected to.

        ``event`` may be a function that builds it: it is called under the journal's lock, so
        a decision it makes from the projection's state (which symbols are stale) cannot be
        overtaken by another event. ``then`` also runs under the lock, right after the event
        was projected (a collector updating what it has in flight).

        Shielded: once started, an append completes even when its caller is being cancelled,
        so a number is never given out without its event reaching the archive.
        """
        with anyio.CancelScope(shield=True):
            async with self._lock:
                built = event() if callable(event) else event
                event = msgspec.structs.replace(built, seq=self._next_seq)
                self._next_seq += 1
                projected = self.projector.feed(event)
                if then is not None:
                    then()
                await self._sink.send(event)
                for record in projected:
                    await self._sink.send(record)
        status = self._status
        status.raw_events += 1
        if type(event) is WsFrame:
            status.cached_symbols = self.projector.cached_symbols()
        for record in projected:
            if type(record) is LedgerEntry:
                status.book(record)
                lost = loss_count(record)
                if lost:
                    _log_loss(record, lost)
            else:
                status.observe(record)  # type: ignore[arg-type]
        return projected

    async def aclose(self) -> None:
        """No more events: close the stream so the sink drains and ends."""
        async with self._lock:
            await self._sink.aclose()


def _log_loss(entry: LedgerEntry, lost: int) -> None:
    """A cycle that lost observations is a warning in the run log, with its causes."""
    _log.warning(
        "cycle_loss",
        extra={
            "cycle_id": entry.cycle_id,
            "mode": str(entry.mode),
            "source": str(entry.source),
            "expected": entry.expected,
            "lost": lost,
            "failed": {str(k): v for k, v in entry.failed.items()},
            "rejected": {str(k): v for k, v in entry.rejected.items()},
            "dropped": {str(k): v for k, v in entry.dropped.items()},
        },
    )


async def run_archive_sink(
    writer: ArchiveWriter,
    receive: MemoryObjectReceiveStream[ArchiveRecord],
    *,
    poll_s: float = 0.25,
) -> None:
    """Append everything received to ``writer`` until the stream closes, then flush."""
    async with receive:
        while True:
            record: ArchiveRecord | None = None
            with anyio.move_on_after(poll_s):
                try:
                    record = await receive.receive()
                except anyio.EndOfStream:
                    break
            if record is None:
                writer.poll()
                continue
            writer.append(record)  # also cuts frames that are due (B's writer checks on append)
            if type(record) is LedgerEntry:
                writer.flush(wait=False)  # the next cycle's records overlap its compression
    writer.flush()
