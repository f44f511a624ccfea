"""The base of every error the ``archive`` package raises.

One tree::

    ArchiveError                      anything raised on purpose by archive.*
    ├── ArchiveLockedError            another process holds the root or partition lock (its pid)
    ├── SequenceRegressionError       a record's seq does not increase within its partition
    ├── WriterClosedError             the writer was used after close()
    ├── ArchiveIOError                the operating system failed us (disk full, permission, ...)
    └── ArchiveFormatError            what is on disk is not what a writer of ours wrote
        ├── CorruptFrameError         a zstd frame is damaged or truncated (file, byte offset)
        ├── CorruptRecordError        a line in an intact frame does not decode (file, line)
        ├── UnknownSchemaVersionError a record states a schema version newer than this code knows
        │   └── UnknownManifestVersionError  likewise a segment's manifest
        └── ManifestMismatchError     a sealed segment does not match its manifest (checksum, size)

Foreign exceptions (``OSError``, ``zstandard.ZstdError``, ``msgspec`` decode errors) are
translated into this tree at one boundary, ``translate_errors`` below; nothing outside that
boundary sees a foreign exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import zstandard

__all__ = [
    "ArchiveError",
    "ArchiveFormatError",
    "ArchiveIOError",
    "ArchiveLockedError",
    "CorruptFrameError",
    "CorruptRecordError",
    "ManifestMismatchError",
    "SequenceRegressionError",
    "UnknownManifestVersionError",
    "UnknownSchemaVersionError",
    "WriterClosedError",
    "translate_errors",
]


class ArchiveError(Exception):
    """Base of every error raised on purpose by ``archive``."""


class ArchiveLockedError(ArchiveError):
    """Another process holds the lock of this archive root or partition."""

    def __init__(self, message: str, *, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


class SequenceRegressionError(ArchiveError):
    """A record's ``seq`` is not greater than the last seq of its partition."""

    def __init__(self, partition: str, seq: int, last_seq: int) -> None:
        super().__init__(
            f"partition {partition}: seq {seq} does not increase (last seq is {last_seq})"
        )
        self.partition = partition
        self.seq = seq
        self.last_seq = last_seq


class WriterClosedError(ArchiveError):
    """The writer was used after ``close()``."""


class ArchiveIOError(ArchiveError):
    """The operating system refused or failed a file operation."""


class ArchiveFormatError(ArchiveError):
    """What is on disk is not what a writer of ours wrote."""


class CorruptFrameError(ArchiveFormatError):
    """A zstd frame is damaged or truncated."""

    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt zstd frame at byte offset {offset}: {reason}")
        self.path = str(path)
        self.offset = offset
        self.reason = reason


class CorruptRecordError(ArchiveFormatError):
    """A line inside an intact frame does not decode as its record type."""

    def __init__(self, path: Path | str, offset: int, line: int, reason: str) -> None:
        super().__init__(
            f"{path}: frame at byte offset {offset}, line {line}: record does not decode: {reason}"
        )
        self.path = str(path)
        self.offset = offset
        self.line = line
        self.reason = reason


class UnknownSchemaVersionError(ArchiveFormatError):
    """A record states a schema version newer than this code can read."""

    def __init__(self, path: Path | str, line: int, version: int, known: int) -> None:
        super().__init__(
            f"{path}: line {line}: schema version {version} is newer than this reader knows "
            f"({known}); upgrade kis-observer to read it"
        )
        self.path = str(path)
        self.line = line
        self.version = version
        self.known = known


class UnknownManifestVersionError(UnknownSchemaVersionError):
    """A segment's manifest states a manifest version newer than this code can read."""

    def __init__(self, path: Path | str, version: int, known: int) -> None:
        ArchiveFormatError.__init__(
            self,
            f"{path}: manifest version {version} is newer than this reader knows ({known}); "
            "upgrade kis-observer to read it",
        )
        self.path = str(path)
        self.line = 1
        self.version = version
        self.known = known


class ManifestMismatchError(ArchiveFormatError):
    """A sealed segment does not match its manifest."""


@contextlib.contextmanager
def translate_errors(path: Path | str, offset: int = 0, what: str = "") -> Iterator[None]:
    """Translate foreign errors raised inside the block into this tree.

    ``path`` and ``offset`` name where the failure happened (the offset only matters for
    decompression errors); ``what`` says what we were doing ("cannot write segment").
    """
    try:
        yield
    except ArchiveError:
        raise
    except zstandard.ZstdError as exc:
        raise CorruptFrameError(path, offset, str(exc)) from exc
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(path, offset, 0, str(exc)) from exc
    except OSError as exc:
        doing = f"{what}: " if what else ""
        raise ArchiveIOError(f"{path}: {doing}{exc.strerror or exc}") from exc
