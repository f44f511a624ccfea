"""``observer compact``: compacts a closed day from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from archive import ArchiveWriter, open_archive, verify_segment
from observer._cli_compact import compact_command
from tests.archive.helpers import FakeClock, data_files, snapshots


def test_compact_command_compacts_the_day(tmp_path: Path) -> None:
    """The command compacts the named day and its manifest says so."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(1, 101)))
    before = list(open_archive(tmp_path).snapshots())
    result = CliRunner().invoke(
        compact_command, [str(tmp_path), "--date", "2026-11-24", "--level", "9"]
    )
    manifest = verify_segment(data_files(tmp_path)[0])
    assert (0, True, before) == (
        result.exit_code,
        manifest.compacted,
        list(open_archive(tmp_path).snapshots()),
    )


def test_compact_command_reports_a_locked_partition(tmp_path: Path) -> None:
    """A partition held by a writer is a clear error, not a traceback."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(1, 3)))
        result = CliRunner().invoke(compact_command, [str(tmp_path), "--date", "2026-11-24"])
    expected = (1, True)
    assert expected == (result.exit_code, "is locked by pid" in result.output)
