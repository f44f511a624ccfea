"""The writer thread: frames compressed off the caller's thread, at most one in flight.

The threaded writer must leave exactly the bytes the inline one leaves, never hold more than
one frame in flight (what a crash can cut off), and neither lose nor duplicate the records
of a frame whose write failed in the thread.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
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


# A child process whose segment files may not grow past 32 KiB (RLIMIT_FSIZE: the write fails
# with EFBIG on the same OSError path as a full disk). Raw frame 1 fits; raw frame 2 (64 KiB of
# incompressible text) fails in the writer thread, and a snapshot frame is cut after it.
_FULL_DISK_CHILD = textwrap.dedent(
    """
    import hashlib, resource, sys
    from archive import ArchiveIOError, ArchiveWriter, WriterConfig
    from tests.archive.helpers import FakeClock, snapshot, ws_frame

    writer = ArchiveWriter(sys.argv[1], WriterConfig(flush_interval_s=1e9), clock=FakeClock())
    writer.append(ws_frame(1, "0|H0STCNT0|001|x"))
    writer.flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (32 << 10, resource.RLIM_INFINITY))
    writer.append(ws_frame(2, hashlib.shake_256(b"full").hexdigest(64 << 10)))
    writer.flush(wait=False)
    writer.append(snapshot(1))
    writer.flush(wait=False)
    try:
        writer.sync()
    except ArchiveIOError as error:
        print(error)
    """
)


def test_a_failed_raw_frame_write_keeps_later_cut_frames_off_the_disk(tmp_path: Path) -> None:
    """A raw frame fails in the writer thread: the snapshot frame cut after it is not written."""
    repo = Path(__file__).parents[2]
    child = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=60,
        check=True,
    )
    assert "cannot write frame: File too large" in child.stdout
    reader = open_archive(tmp_path)
    on_disk = ([e.seq for e in reader.raw()], [s.seq for s in reader.snapshots()])
    assert ([1], []) == on_disk
