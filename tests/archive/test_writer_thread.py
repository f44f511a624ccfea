"""The writer thread: frames compressed off the caller's thread, at most one in flight.

The threaded writer must leave exactly the bytes the inline one leaves, never hold more than
one frame in flight (what a crash can cut off), and neither lose nor duplicate the records
of a frame whose write failed in the thread.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import archive._writer as writer_module
from archive import ArchiveIOError, ArchiveWriter, WriterConfig, open_archive
from tests.archive.helpers import FakeClock, snapshot


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def _write_day(root: Path, threaded: bool) -> None:
    """Frames cut every way the writer cuts them: flush with and without wait, size, clock."""
    clock = FakeClock()
    config = WriterConfig(compress_in_thread=threaded, flush_interval_s=5.0, max_frame_bytes=20_000)
    with ArchiveWriter(root, config, clock=clock) as writer:
        for seq in range(1, 601):
            writer.append(snapshot(seq))
            clock.advance(0.1)
            if seq % 97 == 0:
                writer.flush(wait=seq % 2 == 0)
            if seq % 150 == 0:
                writer.poll()


def test_threaded_and_inline_writers_leave_identical_bytes(tmp_path: Path) -> None:
    """Same records, same calls, same clock → the same segment and manifest bytes."""
    _write_day(tmp_path / "inline", threaded=False)
    _write_day(tmp_path / "thread", threaded=True)
    inline, thread = _files(tmp_path / "inline"), _files(tmp_path / "thread")
    assert inline  # segments and manifests were written at all
    assert inline == thread


def test_at_most_one_frame_in_flight(tmp_path: Path) -> None:
    """Cutting a frame first waits for the one before it: that one is then on disk."""
    config = WriterConfig(compress_in_thread=True, flush_interval_s=1e9)
    with ArchiveWriter(tmp_path, config, clock=FakeClock()) as writer:
        for seq in range(1, 51):
            writer.append(snapshot(seq))
        writer.flush(wait=False)
        for seq in range(51, 101):
            writer.append(snapshot(seq))
        writer.flush(wait=False)
        on_disk = [s.seq for s in open_archive(tmp_path).snapshots()]
        assert on_disk[:50] == list(range(1, 51))  # the first frame is whole
        assert len(on_disk) in (50, 100)  # the second whole or not there yet
        writer.sync()
        assert [s.seq for s in open_archive(tmp_path).snapshots()] == list(range(1, 101))


def _fail_first_write(monkeypatch: pytest.MonkeyPatch, threaded: bool) -> Callable[[], int]:
    """``os.write`` of the writer fails once with ENOSPC after writing a partial frame."""
    real_write = os.write
    failures = {"left": 1, "hit": 0}

    def write(fd: int, data: bytes | memoryview) -> int:
        ours = threading.current_thread().name.startswith("archive-writer") or not threaded
        if ours and failures["left"] and len(data) > 10:
            failures["left"] -= 1
            failures["hit"] += 1
            real_write(fd, bytes(data[:7]))  # a torn piece the writer must cut back off
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(writer_module.os, "write", write)
    return lambda: failures["hit"]


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "writer-thread"])
def test_a_failed_frame_write_keeps_its_records_for_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    """Disk full mid-frame: a clear error, the partial frame cut off, the retry writes all."""
    config = WriterConfig(compress_in_thread=threaded, flush_interval_s=1e9)
    writer = ArchiveWriter(tmp_path, config, clock=FakeClock())
    hits = _fail_first_write(monkeypatch, threaded)
    for seq in range(1, 21):
        writer.append(snapshot(seq))
    with pytest.raises(ArchiveIOError, match="No space left"):
        writer.flush()
    assert hits() == 1
    for seq in range(21, 31):
        writer.append(snapshot(seq))
    writer.flush()
    writer.close()
    assert [s.seq for s in open_archive(tmp_path).snapshots()] == list(range(1, 31))
