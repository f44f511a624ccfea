"""The manifest of a sealed segment, and the running summary a writer keeps to build it."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Final

import msgspec

from pipeline import DECODE_ERRORS, ENCODER
from pipeline._model import AwareDatetime

from ._errors import ManifestMismatchError, UnknownManifestVersionError, translate_errors
from ._layout import DATA_SUFFIX, MANIFEST_SUFFIX, Family, Partition, fsync_dir

__all__ = [
    "MANIFEST_VERSION",
    "WRITER_VERSION",
    "SegmentManifest",
    "SegmentSummary",
    "read_manifest",
    "sha256_file",
    "verify_segment",
    "write_manifest",
]

MANIFEST_VERSION: Final = 1
WRITER_VERSION: Final = "kis-observer-archive/1"

_MANIFEST_DECODER: Final = msgspec.json.Decoder()


class SegmentManifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """What a sealed segment holds, written beside it as ``part-….manifest.json``.

    ``first_*``/``last_*`` times are those of the first and last record in seq order (a
    segment's exchange times need not be monotonic). Exchange times exist for snapshots only,
    receive times for snapshots and raw events; ledger segments leave them ``None``.
    ``sha256`` and ``size_bytes`` describe the data file as it is now (after compaction, the
    compacted file); ``uncompressed_bytes`` and ``record_count`` never change.
    """

    manifest_version: int = MANIFEST_VERSION
    family: Family
    date: dt.date
    mode: str
    source: str
    file: str
    record_count: int
    first_seq: int
    last_seq: int
    first_exchange_time: AwareDatetime | None = None
    last_exchange_time: AwareDatetime | None = None
    first_receive_time: AwareDatetime | None = None
    last_receive_time: AwareDatetime | None = None
    schema_version: int
    sha256: str
    size_bytes: int
    uncompressed_bytes: int
    frames: int
    zstd_level: int
    writer_version: str = WRITER_VERSION
    sealed_by: str = "writer"  # "writer" | "recovery"
    compacted: bool = False
    torn_tail_bytes: int = 0  # bytes cut by recovery (sealed_by == "recovery")
    torn_tail_lines: int = 0  # records known lost in that torn frame (at least 1 if bytes cut)

    @property
    def partition(self) -> Partition:
        return Partition(self.family, self.date, self.mode, self.source)


def _times(record: object) -> tuple[dt.datetime | None, dt.datetime | None]:
    return getattr(record, "exchange_time", None), getattr(record, "receive_time", None)


class SegmentSummary:
    """The running summary of one segment's records, fed in seq order."""

    __slots__ = ("count", "first", "frames", "last", "schema_version", "uncompressed_bytes")

    def __init__(self) -> None:
        self.count = 0
        self.first: object | None = None
        self.last: object | None = None
        self.schema_version = 0
        self.uncompressed_bytes = 0
        self.frames = 0

    def add(self, record: object) -> None:
        if self.first is None:
            self.first = record
        self.last = record
        self.count += 1
        version: int = record.schema_version  # type: ignore[attr-defined]
        if version > self.schema_version:
            self.schema_version = version

    def manifest(
        self,
        partition: Partition,
        file: str,
        *,
        sha256: str,
        size_bytes: int,
        zstd_level: int,
        sealed_by: str = "writer",
        torn_tail_bytes: int = 0,
        torn_tail_lines: int = 0,
    ) -> SegmentManifest:
        if self.first is None or self.last is None:
            raise ValueError("an empty segment has no manifest")
        first_exchange, first_receive = _times(self.first)
        last_exchange, last_receive = _times(self.last)
        return SegmentManifest(
            family=partition.family,
            date=partition.date,
            mode=partition.mode,
            source=partition.source,
            file=file,
            record_count=self.count,
            first_seq=self.first.seq,  # type: ignore[attr-defined]
            last_seq=self.last.seq,  # type: ignore[attr-defined]
            first_exchange_time=first_exchange,
            last_exchange_time=last_exchange,
            first_receive_time=first_receive,
            last_receive_time=last_receive,
            schema_version=self.schema_version,
            sha256=sha256,
            size_bytes=size_bytes,
            uncompressed_bytes=self.uncompressed_bytes,
            frames=self.frames,
            zstd_level=zstd_level,
            sealed_by=sealed_by,
            torn_tail_bytes=torn_tail_bytes,
            torn_tail_lines=torn_tail_lines,
        )


def write_manifest(directory: Path, name: str, manifest: SegmentManifest) -> None:
    """Write ``directory/name`` atomically: temp file, fsync, rename (dir fsync is the caller's)."""
    tmp = directory / f".{name}.tmp"
    data = ENCODER.encode(manifest) + b"\n"
    with translate_errors(directory / name, what="cannot write manifest"):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, directory / name)


def read_manifest(path: Path) -> SegmentManifest:
    """Decode a manifest file (``ManifestMismatchError`` if it is not one,
    ``UnknownManifestVersionError`` if a newer writer wrote it)."""
    with translate_errors(path, what="cannot read manifest"):
        data = path.read_bytes()
    try:
        manifest = msgspec.json.decode(data, type=SegmentManifest)
    except DECODE_ERRORS as exc:
        raise ManifestMismatchError(f"{path}: not a segment manifest: {exc}") from exc
    if manifest.manifest_version > MANIFEST_VERSION:
        # its added fields are unknown here: reading on could misjudge the segment, and
        # rewriting the manifest (compaction) would drop them
        raise UnknownManifestVersionError(path, manifest.manifest_version, MANIFEST_VERSION)
    return manifest


def sha256_file(path: Path) -> tuple[str, int]:
    """``(hex sha256, size)`` of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with translate_errors(path, what="cannot read"), open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_segment(data_path: Path | str) -> SegmentManifest:
    """Check a sealed segment against its manifest (size and sha256); return the manifest.

    Raises ``ManifestMismatchError`` naming the file when they disagree or the manifest is
    missing.
    """
    data_path = Path(data_path)
    if not data_path.name.endswith(DATA_SUFFIX):
        raise ValueError(f"{data_path} is not a sealed segment (*{DATA_SUFFIX})")
    manifest_path = data_path.with_name(data_path.name[: -len(DATA_SUFFIX)] + MANIFEST_SUFFIX)
    if not manifest_path.exists():
        raise ManifestMismatchError(f"{data_path}: manifest {manifest_path.name} is missing")
    manifest = read_manifest(manifest_path)
    sha, size = sha256_file(data_path)
    if manifest.file != data_path.name:
        raise ManifestMismatchError(f"{data_path}: manifest names {manifest.file!r}, not this file")
    if (sha, size) != (manifest.sha256, manifest.size_bytes):
        raise ManifestMismatchError(
            f"{data_path}: sha256/size {sha}/{size} differ from manifest "
            f"{manifest.sha256}/{manifest.size_bytes}"
        )
    return manifest


def fsync_parent(path: Path) -> None:
    fsync_dir(path.parent)
