"""kis-observer archive: rolling zstd JSONL event log, reader/replay, verify, manifests.

Knows the pipeline's record types, never a broker. Layout and format: ``archive._layout``
and shared/DESIGN.md "Archive format". Write with ``ArchiveWriter``, read with
``open_archive`` (or ``query_snapshots`` for filters and Arrow/Polars/pandas frames),
recompress a closed day with ``compact_day``.
"""

from ._compact import CompactedSegment as CompactedSegment
from ._compact import CompactionReport as CompactionReport
from ._compact import compact_day as compact_day
from ._compact import compaction_cut as compaction_cut
from ._errors import ArchiveError as ArchiveError
from ._errors import ArchiveFormatError as ArchiveFormatError
from ._errors import ArchiveIOError as ArchiveIOError
from ._errors import ArchiveLockedError as ArchiveLockedError
from ._errors import CorruptFrameError as CorruptFrameError
from ._errors import CorruptRecordError as CorruptRecordError
from ._errors import ManifestMismatchError as ManifestMismatchError
from ._errors import SequenceRegressionError as SequenceRegressionError
from ._errors import UnknownManifestVersionError as UnknownManifestVersionError
from ._errors import UnknownSchemaVersionError as UnknownSchemaVersionError
from ._errors import WriterClosedError as WriterClosedError
from ._layout import Family as Family
from ._layout import Partition as Partition
from ._lock import RootLock as RootLock
from ._manifest import SegmentManifest as SegmentManifest
from ._manifest import verify_segment as verify_segment
from ._query import Clock as Clock
from ._query import SnapshotQuery as SnapshotQuery
from ._query import query_snapshots as query_snapshots
from ._query import snapshot_arrow_schema as snapshot_arrow_schema
from ._query import snapshots_to_arrow as snapshots_to_arrow
from ._query import stored_lines as stored_lines
from ._reader import ArchiveReader as ArchiveReader
from ._reader import CorruptSpan as CorruptSpan
from ._reader import ReadReport as ReadReport
from ._reader import open_archive as open_archive
from ._recovery import RecoveredSegment as RecoveredSegment
from ._recovery import RecoveryReport as RecoveryReport
from ._schemas import check_schemas as check_schemas
from ._schemas import json_schemas as json_schemas
from ._schemas import write_schemas as write_schemas
from ._writer import ArchiveWriter as ArchiveWriter
from ._writer import WriterConfig as WriterConfig
from ._writer import make_compressor as make_compressor

__all__ = [
    "ArchiveError",
    "ArchiveFormatError",
    "ArchiveIOError",
    "ArchiveLockedError",
    "ArchiveReader",
    "ArchiveWriter",
    "Clock",
    "CompactedSegment",
    "CompactionReport",
    "CorruptFrameError",
    "CorruptRecordError",
    "CorruptSpan",
    "Family",
    "ManifestMismatchError",
    "Partition",
    "ReadReport",
    "RecoveredSegment",
    "RecoveryReport",
    "RootLock",
    "SegmentManifest",
    "SequenceRegressionError",
    "SnapshotQuery",
    "UnknownManifestVersionError",
    "UnknownSchemaVersionError",
    "WriterClosedError",
    "WriterConfig",
    "check_schemas",
    "compact_day",
    "compaction_cut",
    "json_schemas",
    "make_compressor",
    "open_archive",
    "query_snapshots",
    "snapshot_arrow_schema",
    "snapshots_to_arrow",
    "stored_lines",
    "verify_segment",
    "write_schemas",
]
