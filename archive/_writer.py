"""The archive writer: records in, rolling zstd JSON Lines segments out.

Usage (collectors, ``observer run``)::

    writer = ArchiveWriter(root, WriterConfig())        # recovers crashed segments first
    for entry in writer.book_recovery(now):             # torn tails → ledger, cause torn_tail
        ...
    seq = (writer.last_seq(Partition.of(first_record)) or 0) + 1   # resume numbering
    writer.append(snapshot)     # many times; each record goes to its own partition
    writer.flush()              # at every cycle end: one zstd frame per partition with data
    writer.poll()               # at least once a second from a timer: flush frames due, roll by age
    writer.close()              # flush, seal all, release locks (or `with ArchiveWriter(...)`)

Each record goes to ``Partition.of(record)`` (family by type, trading day, mode, source).
Within a partition ``seq`` must strictly increase (the producer assigns it). Records are
encoded with the pipeline's deterministic encoder into a reused buffer and written as one
independent zstd frame per flush. A frame is flushed when a cycle ends (``flush``), when its
buffer is ``flush_interval_s`` old (checked on ``append`` and ``poll`` with the injected
clock) or ``max_frame_bytes`` big. A segment is sealed when the trading day of its
(family, mode, source) moves on, when it reaches ``max_segment_bytes`` or
``max_segment_age_s``, and on ``close``. Sealing fsyncs the data, writes the manifest
atomically, renames ``.jsonl.zst.open`` to ``.jsonl.zst`` and fsyncs the directory.

Frames are cut in the order records derive from each other: before a frame of snapshots is
cut, every raw partition's buffered records are cut; before a ledger frame, raw and
snapshots too. The writer thread writes frames in the order they were cut, so whatever a
crash leaves on disk, a snapshot or ledger entry never outlives the raw events it was
derived from, and a ledger entry never outlives its cycle's snapshots: a resumed day
re-derives from a journal that holds everything the archive says it saw.

The clock only decides *when* frames are cut, never what a record says; give a fake clock
and the same records with the same ``flush`` calls produce byte-identical files.

Sync API: appends and flushes are short, so async code calls them directly: a frame is
compressed and written by the writer thread (``compress_in_thread``) while the caller goes
on, at most one frame per partition in flight; ``flush(wait=False)`` does not wait for the
last ones. Sealing (``seal``, ``close``, a roll) fsyncs file and directory, which can take
tens of ms on a busy disk: run ``close`` in a worker thread (``anyio.to_thread.run_sync``)
when the event loop must not stall.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import msgspec
import zstandard

from pipeline import ENCODER, Environment, LedgerEntry

from ._compact import COMPACT_TMP_SUFFIX, finish_compactions
from ._errors import (
    ArchiveLockedError,
    SequenceRegressionError,
    WriterClosedError,
    translate_errors,
)
from ._layout import (
    FAMILY_OF_TYPE,
    MANIFEST_SUFFIX,
    OPEN_SUFFIX,
    Family,
    Partition,
    SegmentName,
    fsync_dir,
    iter_partition_dirs,
)
from ._lock import FileLock, lock_partition
from ._manifest import SegmentSummary, write_manifest
from ._recovery import RecoveredSegment, RecoveryReport, recover_segment

__all__ = ["ArchiveWriter", "WriterConfig", "make_compressor"]

_NEWLINE: Final = 10
# Derivation order of the families: a frame is cut only after the buffers of the families
# before its own (raw events → snapshots → ledger entries; see the module doc).
_RANK: Final = {Family.RAW: 0, Family.SNAPSHOTS: 1, Family.LEDGER: 2}
_NO_SEQ: Final = -(1 << 62)  # "no record yet": any seq is greater


class WriterConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Archive writer settings (decode from config with ``forbid_unknown_fields``)."""

    # Live frames: zstd level 8 (the lazy2 parser) with a shallower search (``zstd_tuned``):
    # on our records 0.74-0.77x the bytes of gzip-6 for ~9 us of CPU per record, half of
    # gzip-6's; level 1 (fast parser, min match 7) gave 0.88x on records that carry the
    # enrichment's full-precision floats. Compaction recompresses sealed days at level 17.
    zstd_level: int = 8
    zstd_tuned: bool = True  # search_log 1, min_match 6, hash_log 17 on top of zstd_level
    # Frames are compressed and written by one writer thread, at most one frame in flight:
    # the compression (which releases the GIL) overlaps with the caller's next records.
    compress_in_thread: bool = True
    flush_interval_s: float = 1.0  # a buffered record waits at most this long for its frame
    max_frame_bytes: int = 4 << 20  # uncompressed bytes that force a frame out early
    max_segment_bytes: int = 256 << 20  # compressed size that rolls the segment
    max_segment_age_s: float = 3600.0  # age (injected clock) that rolls the segment
    fsync_each_flush: bool = False  # fsync after every frame (~10 % throughput); always at seal
    zstd_checksum: bool = True  # 4-byte content checksum per frame: corruption is detected


def make_compressor(config: WriterConfig) -> zstandard.ZstdCompressor:
    """The zstd compressor of live frames for ``config`` (one per thread that uses it)."""
    if config.zstd_tuned:
        params = zstandard.ZstdCompressionParameters.from_level(
            config.zstd_level,
            search_log=1,
            min_match=6,
            hash_log=17,
            chain_log=16,
            write_checksum=config.zstd_checksum,
            write_content_size=True,
        )
        return zstandard.ZstdCompressor(compression_params=params)
    return zstandard.ZstdCompressor(
        level=config.zstd_level, write_checksum=config.zstd_checksum, write_content_size=True
    )


class _Segment:
    __slots__ = ("fd", "name", "opened_at", "path", "sha", "size", "summary")

    def __init__(self, name: SegmentName, path: Path, fd: int, opened_at: float) -> None:
        self.name = name
        self.path = path
        self.fd = fd
        self.summary = SegmentSummary()
        self.size = 0
        self.sha = hashlib.sha256()
        self.opened_at = opened_at


class _PartitionState:
    __slots__ = (
        "buffer",
        "dir",
        "inflight",
        "last",
        "last_seq",
        "lock",
        "partition",
        "pending",
        "segment",
        "since",
        "version",
    )

    def __init__(
        self, partition: Partition, directory: Path, lock: FileLock, last_seq: int
    ) -> None:
        self.partition = partition
        self.dir = directory
        self.lock = lock
        self.last_seq = last_seq
        self.segment: _Segment | None = None
        self.buffer = bytearray()
        # What the buffered records add to the segment summary at the next flush: their
        # count, the last of them and their highest schema version. Records themselves are
        # not kept (holding thousands of live objects per frame costs GC time).
        self.pending = 0
        self.last: Any = None
        self.version = 0
        self.since = 0.0
        # the frame of this partition being compressed and written by the writer thread
        self.inflight: tuple[_Frame, Future[int]] | None = None


class _Frame:
    """One frame cut from a partition's buffer, on its way to the segment file."""

    __slots__ = ("data", "last", "pending", "segment", "state", "version")

    def __init__(self, state: _PartitionState, segment: _Segment, data: bytes) -> None:
        self.state = state
        self.segment = segment
        self.data = data
        self.pending = state.pending
        self.last = state.last
        self.version = state.version


class _RefusedFrame(Exception):
    """A frame the writer thread did not write because a frame cut before it failed."""


class ArchiveWriter:
    """Appends snapshots, raw events and ledger entries to their partitions under ``root``.

    Opening a writer recovers every open segment it can lock (see ``recovery``); partitions
    locked by a live writer are left alone and listed in ``recovery.skipped_locked``.
    """

    def __init__(
        self,
        root: Path | str,
        config: WriterConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = Path(root)
        self.config = config or WriterConfig()
        self._clock = clock
        self._cctx = make_compressor(self.config)
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-writer")
            if self.config.compress_in_thread
            else None
        )
        self._states: dict[tuple[Any, ...], _PartitionState] = {}
        # The first error of a frame write in the writer thread, until the caller has been told
        # and every frame in flight is settled: frames cut after a failed one are not written.
        self._failure: BaseException | None = None
        self._by_partition: dict[Partition, _PartitionState] = {}
        self._day: dict[tuple[Family, str, str], dt.date] = {}
        self._closed = False
        self._encode_into = ENCODER.encode_into
        self._max_frame_bytes = self.config.max_frame_bytes
        self._flush_interval = self.config.flush_interval_s
        # type → (mode, source, trading day, state) of the last record of that type
        self._hot: dict[type, tuple[Any, Any, Any, _PartitionState]] = {}
        with translate_errors(self.root, what="cannot create archive root"):
            self.root.mkdir(parents=True, exist_ok=True)
        self.recovery = RecoveryReport()
        self._recover_all()

    # ------------------------------------------------------------------ recovery

    def _recover_all(self) -> None:
        for family in Family:
            for directory in iter_partition_dirs(self.root, family):
                if not any(directory.glob("*" + OPEN_SUFFIX)) and not any(
                    directory.glob(".*" + COMPACT_TMP_SUFFIX)
                ):
                    continue
                partition = Partition.from_dir(self.root, directory)
                lock = lock_partition(self.root, partition)
                try:
                    lock.acquire()
                except ArchiveLockedError:
                    self.recovery.skipped_locked.append(str(partition))
                    continue
                try:
                    self._recover_partition(partition, directory)
                finally:
                    lock.release()

    def _recover_partition(self, partition: Partition, directory: Path) -> list[RecoveredSegment]:
        self.recovery.compactions_finished.extend(finish_compactions(directory))
        done = []
        for path in sorted(directory.glob("*" + OPEN_SUFFIX)):
            recovered = recover_segment(
                self.root, partition, path, zstd_level=self.config.zstd_level
            )
            self.recovery.segments.append(recovered)
            done.append(recovered)
        return done

    def book_recovery(
        self,
        now: dt.datetime,
        *,
        environment: Environment | str = Environment.SIM,
        entries: Iterable[LedgerEntry] | None = None,
    ) -> list[LedgerEntry]:
        """Append one ledger entry per torn snapshot segment (cause ``torn_tail``) and flush.

        Each entry goes to the ledger partition of its (date, mode, source) with the next seq
        there. Returns the entries as written. Call once, right after opening the writer;
        ``entries``: these (from ``recovery.ledger_entries``) instead of all of them, for a
        caller that first restores what it can (``observer run`` re-derives a resumed day's
        torn records from its raw journal, and books only what it could not).
        """
        written = []
        if entries is None:
            entries = self.recovery.ledger_entries(now, environment=environment)
        for entry in entries:
            last = self.last_seq(Partition.of(entry))
            entry = msgspec.structs.replace(entry, seq=(last if last is not None else 0) + 1)
            self.append(entry)
            written.append(entry)
        self.flush()
        return written

    # ------------------------------------------------------------------ partitions

    def last_seq(self, partition: Partition) -> int | None:
        """The last seq written to ``partition`` (by anyone, recovered included), or None.

        Takes the partition's lock if this writer does not hold it yet.
        """
        self._check_open()
        state = self._by_partition.get(partition)
        if state is None:
            state = self._open_partition(partition)
        return None if state.last_seq == _NO_SEQ else state.last_seq

    def _open_partition(self, partition: Partition) -> _PartitionState:
        directory = partition.dir(self.root)
        lock = lock_partition(self.root, partition)
        lock.acquire()
        try:
            with translate_errors(directory, what="cannot open partition"):
                directory.mkdir(parents=True, exist_ok=True)
                self._recover_partition(partition, directory)
                last_seq = _NO_SEQ
                for path in directory.iterdir():
                    parsed = SegmentName.parse(path.name)
                    if parsed is not None and parsed[1] == MANIFEST_SUFFIX:
                        last = parsed[0].last_seq
                        if last is not None and last > last_seq:
                            last_seq = last
        except BaseException:
            lock.release()
            raise
        state = _PartitionState(partition, directory, lock, last_seq)
        self._by_partition[partition] = state
        # Day roll: a new trading day for (family, mode, source) seals the older day's segment.
        day_key = (partition.family, partition.mode, partition.source)
        previous = self._day.get(day_key)
        if previous is None or previous < partition.date:
            self._day[day_key] = partition.date
            for other in list(self._by_partition.values()):
                if (
                    other is not state
                    and (other.partition.family, other.partition.mode, other.partition.source)
                    == day_key
                    and other.partition.date < partition.date
                ):
                    self._retire(other)
        return state

    def _retire(self, state: _PartitionState) -> None:
        """Seal a partition's segment and let go of it (its day is over)."""
        self._flush_state(state)
        self._seal_state(state)
        state.lock.release()
        del self._by_partition[state.partition]
        for key in [k for k, v in self._states.items() if v is state]:
            del self._states[key]
        self._forget_hot()

    # ------------------------------------------------------------------ hot path

    def append(self, record: object) -> None:
        """Buffer one record for its partition; may flush a frame or roll the segment."""
        # Hot path. Records of one type nearly always go to the partition the previous record
        # of that type went to: compare by identity first (enum members hash in Python, so
        # the dict lookup of a full key per record costs more than the rest of append).
        r: Any = record
        hot = self._hot.get(type(r))
        if hot is not None and r.mode is hot[0] and r.source is hot[1] and r.trading_day == hot[2]:
            state = hot[3]
        else:
            state = self._lookup(r)
        seq: int = r.seq
        if seq <= state.last_seq:
            raise SequenceRegressionError(str(state.partition), seq, state.last_seq)
        buffer = state.buffer
        now = self._clock()
        if not buffer:
            state.since = now
            if state.segment is None:
                self._open_segment(state, r)
        self._encode_into(r, buffer, -1)
        buffer.append(_NEWLINE)
        state.last_seq = seq
        state.last = r
        state.pending += 1
        if r.schema_version > state.version:
            state.version = r.schema_version
        if len(buffer) >= self._max_frame_bytes or now - state.since >= self._flush_interval:
            self._flush_state(state)
            self._maybe_roll(state)

    def _lookup(self, record: Any) -> _PartitionState:
        try:
            key = (type(record), record.trading_day, record.mode, record.source)
        except AttributeError:
            raise TypeError(f"{type(record).__name__} is not an archive record type") from None
        state = self._states.get(key)
        if state is None:
            state = self._state_for(key, record)
        self._hot[key[0]] = (key[2], key[3], key[1], state)
        return state

    def _forget_hot(self) -> None:
        self._hot.clear()

    def append_many(self, records: Iterable[object]) -> None:
        """``append`` each record in order."""
        for record in records:
            self.append(record)

    def _state_for(self, key: tuple[Any, ...], record: object) -> _PartitionState:
        self._check_open()
        if type(record) not in FAMILY_OF_TYPE:
            raise TypeError(f"{type(record).__name__} is not an archive record type")
        partition = Partition.of(record)
        state = self._by_partition.get(partition)
        if state is None:
            state = self._open_partition(partition)
        self._states[key] = state
        return state

    def _open_segment(self, state: _PartitionState, first: Any) -> None:
        name = SegmentName(first.seq)
        path = state.dir / name.data
        with translate_errors(path, what="cannot create segment"):
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644
            )
        state.segment = _Segment(name, path, fd, self._clock())
        state.segment.summary.first = first

    # ------------------------------------------------------------------ flushing

    def _flush_state(self, state: _PartitionState) -> None:
        """Cut the buffered records of ``state`` as one frame and send it to its segment.

        With ``compress_in_thread`` the writer thread compresses and writes it while the
        caller goes on; the partition's previous frame is waited for first, so at most one
        frame per partition is ever in flight (what a crash can cut off a segment).
        Otherwise it is written right here.
        """
        buffer = state.buffer
        if not buffer:
            return
        rank = _RANK[state.partition.family]
        if rank:
            for earlier in self._by_partition.values():
                if earlier.buffer and _RANK[earlier.partition.family] < rank:
                    self._flush_state(earlier)
        segment = state.segment
        if segment is None:  # a buffer with data always has an open segment
            raise RuntimeError(f"{state.partition}: buffered records without a segment")
        self._settle_state(state)
        job = _Frame(state, segment, bytes(buffer))
        state.pending = 0
        buffer.clear()
        if self._pool is None:
            try:
                written = self._write_frame(job)
            except BaseException:
                self._restore(job)
                raise
            self._book_frame(job, written)
        else:
            state.inflight = (job, self._pool.submit(self._write_in_thread, job))

    def _write_in_thread(self, job: _Frame) -> int:
        """``_write_frame`` in the writer thread, unless an earlier-cut frame failed.

        A failure is sticky until the caller has settled it (``_unwind_failure``): every frame
        cut after the failed one is refused, so what is on disk is a prefix of the frames in
        the order they were cut, and a snapshot or ledger frame never outlives the raw frame
        it was derived from because that one hit a full disk.
        """
        if self._failure is not None:
            raise _RefusedFrame
        try:
            return self._write_frame(job)
        except BaseException as error:
            self._failure = error
            raise

    def _write_frame(self, job: _Frame) -> int:
        """Compress ``job`` and append it to its segment file; its compressed size.

        Runs in the writer thread (when there is one), which takes frames in the order they
        were cut: the only user of the compressor, and of the segment's fd and hash while a
        frame of its partition is in flight.
        """
        segment = job.segment
        frame = self._cctx.compress(job.data)
        with translate_errors(segment.path, what="cannot write frame"):
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(segment.fd, view) :]
                if self.config.fsync_each_flush:
                    os.fsync(segment.fd)
            except OSError:
                # Disk full or I/O error mid-frame: cut the partial frame back off, so that a
                # retried flush appends a whole frame after the last good one.
                with contextlib.suppress(OSError):
                    os.ftruncate(segment.fd, segment.size)
                raise
        segment.sha.update(frame)
        return len(frame)

    def _book_frame(self, job: _Frame, written: int) -> None:
        """The frame is in its segment file: count it in the segment's summary."""
        segment = job.segment
        segment.size += written
        summary = segment.summary
        summary.frames += 1
        summary.uncompressed_bytes += len(job.data)
        summary.count += job.pending
        summary.last = job.last
        if job.version > summary.schema_version:
            summary.schema_version = job.version

    def _restore(self, job: _Frame) -> None:
        """The frame did not make it to disk: its records go back in front of the buffer."""
        state = job.state
        state.buffer[0:0] = job.data
        state.pending += job.pending

    def _settle(self, *, done_only: bool = False) -> None:
        """Settle the frame in flight of every partition (``done_only``: those finished)."""
        for state in list(self._by_partition.values()):
            if state.inflight is not None and (not done_only or state.inflight[1].done()):
                self._settle_state(state)

    def _settle_state(self, state: _PartitionState) -> None:
        """Wait for the partition's frame in flight; book it, or put its records back and raise."""
        inflight = state.inflight
        if inflight is None:
            return
        job, future = inflight
        try:
            written = future.result()
        except _RefusedFrame:
            # refused after an earlier-cut frame failed: raise that frame's error
            state.inflight = None
            self._restore(job)
            first = self._unwind_failure()
        except BaseException:
            if not future.done():
                raise  # the wait was interrupted, not the write: the frame stays in flight
            state.inflight = None
            self._restore(job)
            self._unwind_failure()  # this frame's error is the first one
            raise
        else:
            state.inflight = None
            self._book_frame(job, written)
            return
        if first is None:  # pragma: no cover - a refusal always follows a failure
            raise RuntimeError(f"{state.partition}: frame refused without a failure")
        raise first

    def _unwind_failure(self) -> BaseException | None:
        """A frame failed in the writer thread: settle every frame in flight and clear it.

        Frames written before the failed one are booked; the failed frame and those refused
        after it go back in front of their buffers, so a retried flush cuts them again in
        derivation order. Returns the error of the frame that failed.
        """
        for state in list(self._by_partition.values()):
            inflight = state.inflight
            if inflight is None:
                continue
            job, future = inflight
            try:
                written = future.result()
            except BaseException:
                if not future.done():
                    raise
                state.inflight = None
                self._restore(job)
            else:
                state.inflight = None
                self._book_frame(job, written)
        first, self._failure = self._failure, None
        return first

    def _maybe_roll(self, state: _PartitionState) -> None:
        segment = state.segment
        if segment is None:
            return
        if segment.size >= self.config.max_segment_bytes or (
            self._clock() - segment.opened_at >= self.config.max_segment_age_s
        ):
            self._seal_state(state)

    def flush(self, *, wait: bool = True) -> None:
        """Cut every partition's buffered records as one frame each (call at cycle end).

        With ``wait`` (the default) every frame is in its segment file when this returns;
        without, the last one may still be in flight in the writer thread, and the caller's
        next records overlap with its compression (the collector's cycle ends do this).
        """
        self._check_open()
        states = sorted(self._by_partition.values(), key=lambda s: _RANK[s.partition.family])
        for state in states:
            self._flush_state(state)
        if wait:
            self._settle()
        for state in states:
            self._maybe_roll(state)  # by the size on disk (the frame in flight not yet counted)

    def sync(self) -> None:
        """Wait until every frame in flight is in its segment file (raise what went wrong)."""
        self._check_open()
        self._settle()

    def poll(self) -> None:
        """Flush frames whose buffer is ``flush_interval_s`` old; roll segments by age.

        Call at least once a second from a timer so that a quiet partition's records do not
        wait for the next ``append``.
        """
        self._check_open()
        self._settle(done_only=True)  # book what was written, or raise what went wrong
        now = self._clock()
        for state in list(self._by_partition.values()):
            if state.buffer and now - state.since >= self.config.flush_interval_s:
                self._flush_state(state)
            self._maybe_roll(state)

    # ------------------------------------------------------------------ sealing

    def _seal_state(self, state: _PartitionState) -> None:
        segment = state.segment
        if segment is None:
            return
        self._flush_state(state)
        self._settle_state(state)
        state.segment = None
        directory = state.dir
        with translate_errors(segment.path, what="cannot seal segment"):
            os.fsync(segment.fd)
            os.close(segment.fd)
            summary = segment.summary
            sealed = segment.name.sealed(summary.last.seq)  # type: ignore[attr-defined]
            manifest = summary.manifest(
                state.partition,
                sealed.data,
                sha256=segment.sha.hexdigest(),
                size_bytes=segment.size,
                zstd_level=self.config.zstd_level,
            )
            write_manifest(directory, sealed.manifest, manifest)
            os.replace(segment.path, directory / sealed.data)
            fsync_dir(directory)

    def seal(self, partition: Partition | None = None) -> None:
        """Flush and seal the open segment of ``partition`` (every partition when None)."""
        self._check_open()
        states = (
            list(self._by_partition.values())
            if partition is None
            else [s for s in [self._by_partition.get(partition)] if s is not None]
        )
        for state in states:
            self._seal_state(state)

    def close(self) -> None:
        """Flush, seal every open segment and release every lock (idempotent)."""
        if self._closed:
            return
        try:
            for state in list(self._by_partition.values()):
                self._seal_state(state)
        finally:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=True)  # no frame outlives the locks
            for state in self._by_partition.values():
                state.lock.release()
            self._by_partition.clear()
            self._states.clear()
            self._forget_hot()

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosedError(f"archive writer for {self.root} is closed")

    @property
    def partitions(self) -> list[Partition]:
        """Partitions this writer currently holds."""
        return sorted(self._by_partition)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
