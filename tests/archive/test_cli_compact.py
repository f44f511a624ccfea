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


def test_compact_command_refuses_a_day_with_nothing_archived(tmp_path: Path) -> None:
    """A mistyped day is an error naming the days present, not "0 segment(s) compacted"."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(1, 3)))
    result = CliRunner().invoke(compact_command, [str(tmp_path), "--date", "2026-11-23"])
    expected = (2, "nothing archived on 2026-11-23 (dates present: 2026-11-24)")
    assert expected == (result.exit_code, " ".join(result.output.split())[-58:])


def test_compact_command_refuses_a_folder_that_is_not_an_archive_root(tmp_path: Path) -> None:
    """A wrong root says so instead of compacting nothing."""
    result = CliRunner().invoke(compact_command, [str(tmp_path), "--date", "2026-11-24"])
    assert (2, True) == (result.exit_code, "not an archive root" in result.output)


def test_compact_command_takes_a_range_and_passes_over_empty_days(tmp_path: Path) -> None:
    """``--date A..B`` compacts the days in it that have segments, as replay selects them."""
    with ArchiveWriter(tmp_path, clock=FakeClock()) as writer:
        writer.append_many(snapshots(range(1, 3)))
    result = CliRunner().invoke(
        compact_command, [str(tmp_path), "--date", "2026-11-20..2026-11-30", "--level", "3"]
    )
    compacted = [line.split(":")[0] for line in result.output.splitlines()]
    assert (0, ["2026-11-24"]) == (result.exit_code, compacted)
