"""The archive error tree: foreign errors are translated at one boundary."""

from __future__ import annotations

import errno
from pathlib import Path

import msgspec
import pytest
import zstandard

from archive import (
    ArchiveError,
    ArchiveIOError,
    CorruptFrameError,
    CorruptRecordError,
    ManifestMismatchError,
)
from archive._errors import translate_errors
from archive._manifest import read_manifest

FOREIGN = [
    (zstandard.ZstdError("bad frame"), CorruptFrameError),
    (msgspec.DecodeError("bad json"), CorruptRecordError),
    (msgspec.ValidationError("bad type"), CorruptRecordError),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), CorruptRecordError),
    (OSError(errno.ENOSPC, "No space left on device"), ArchiveIOError),
    (PermissionError(errno.EACCES, "Permission denied"), ArchiveIOError),
]


@pytest.mark.parametrize(("foreign", "ours"), FOREIGN, ids=lambda v: type(v).__name__)
def test_each_foreign_error_is_translated(foreign: Exception, ours: type[ArchiveError]) -> None:
    """Each foreign exception class becomes its ArchiveError leaf inside translate_errors."""
    with pytest.raises(ArchiveError) as info, translate_errors("seg.jsonl.zst", 42):
        raise foreign
    assert (ours, foreign) == (type(info.value), info.value.__cause__)


def test_translated_corrupt_frame_names_file_and_offset() -> None:
    """A zstd error inside the boundary names the file and byte offset it was given."""
    message = r"seg\.jsonl\.zst: corrupt zstd frame at byte offset 42"
    with pytest.raises(CorruptFrameError, match=message), translate_errors("seg.jsonl.zst", 42):
        raise zstandard.ZstdError("bad frame")


def test_our_own_errors_pass_through_unchanged() -> None:
    """An ArchiveError raised inside the boundary is not re-wrapped."""
    original = CorruptFrameError("x", 1, "y")
    with pytest.raises(CorruptFrameError) as info, translate_errors("other", 9):
        raise original
    assert original is info.value


def test_manifest_that_is_not_utf8_is_a_manifest_mismatch(tmp_path: Path) -> None:
    """A manifest with a non-UTF-8 byte is ManifestMismatchError naming it, not a crash."""
    path = tmp_path / "part-000000000001-000000000009.manifest.json"
    path.write_bytes(b'{"file": "\xff"}')
    with pytest.raises(ManifestMismatchError, match=str(path)):
        read_manifest(path)
