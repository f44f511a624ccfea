"""Bad input: a clear one-line message (no traceback) and, where possible, the intact data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive import ArchiveReader, ArchiveWriter
from archive._frames import walk_frames
from observer.cli import cli
from pipeline import SNAPSHOT_DECODER, Environment, Mode, ObservationSnapshot, Source
from tests.analyst.helpers import DAY1, sealed


def run(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr


def intact(root: Path) -> list[ObservationSnapshot]:
    return list(ArchiveReader(root, skip_corrupt=True).snapshots())


def test_truncated_segment_replays_every_complete_frame(own_root: Path) -> None:
    """A sealed segment cut short: the complete frames are replayed, the cut is named, exit 1."""
    target = sealed(own_root)[-1]
    target.write_bytes(target.read_bytes()[:-7])
    code, out, err = run("replay", str(own_root))
    decoded = [SNAPSHOT_DECODER.decode(line) for line in out.splitlines()]
    expected = (1, intact(own_root), True, False)
    assert expected == (code, decoded, f"{target} at byte" in err, "Traceback" in err)


def test_corrupt_frame_in_the_middle_skips_only_that_frame(own_root: Path) -> None:
    """A damaged frame mid-file: the frames after it are still replayed."""
    target = sealed(own_root)[-1]
    data = bytearray(target.read_bytes())
    spans = walk_frames(bytes(data)).frames
    middle = spans[len(spans) // 2]
    data[(middle.start + middle.end) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    code, out, err = run("replay", str(own_root))
    decoded = [SNAPSHOT_DECODER.decode(line) for line in out.splitlines()]
    expected = (1, intact(own_root), True)
    assert expected == (code, decoded, f"{target} at byte {middle.start}" in err)


def test_strict_stops_at_the_first_damage_with_its_location(own_root: Path) -> None:
    """--strict turns the first damaged frame into an error naming file and offset."""
    target = sealed(own_root)[-1]
    target.write_bytes(target.read_bytes()[:-7])
    code, _, err = run("replay", str(own_root), "--strict")
    expected = (1, True, False)
    assert expected == (code, str(target) in err, "Traceback" in err)


def test_unknown_schema_version_says_upgrade(tmp_path: Path) -> None:
    """A record from a newer writer stops replay with a message to upgrade, no traceback."""
    t = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    newer = ObservationSnapshot(
        schema_version=99,
        seq=1,
        symbol="005930",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY1,
        exchange_time=t,
        receive_time=t,
        cycle_id="c",
    )
    with ArchiveWriter(tmp_path, clock=lambda: 0.0) as writer:
        writer.append(newer)
    code, _, err = run("replay", str(tmp_path), "--strict")
    expected = (1, True, False)
    assert expected == (
        code,
        "schema version 99 is newer" in err and "upgrade" in err,
        "Traceback" in err,
    )


def test_newer_schema_partition_does_not_stop_the_others(own_root: Path) -> None:
    """A partition with a newer record is cut there, named; the other partitions replay."""
    t = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    newer = ObservationSnapshot(
        schema_version=99,
        seq=10_000,
        symbol="005930",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=DAY1,
        exchange_time=t,
        receive_time=t,
        cycle_id="c",
    )
    before = intact(own_root)
    with ArchiveWriter(own_root, clock=lambda: 0.0) as writer:
        writer.append(newer)
    code, out, err = run("replay", str(own_root))
    decoded = [SNAPSHOT_DECODER.decode(line) for line in out.splitlines()]
    expected = (1, before, True)
    assert expected == (code, decoded, "schema version 99 is newer" in err)


def test_empty_day_is_a_note_and_exit_zero(own_root: Path) -> None:
    """A day directory without segments replays nothing and says so."""
    empty = own_root / "snapshots" / "date=2026-11-30" / "mode=swing" / "source=kis-rest"
    empty.mkdir(parents=True)
    code, out, err = run("replay", str(own_root), "--date", "2026-11-30")
    expected = (0, b"", True)
    assert expected == (code, out, "holds no segments (an empty day)" in err)


def test_missing_day_lists_the_days_present(sample_root: Path) -> None:
    """Asking for a day the archive does not hold names the days it does hold."""
    code, _, err = run("replay", str(sample_root), "--date", "2026-12-01")
    expected = (2, True)
    assert expected == (
        code,
        "no snapshots for 2026-12-01 (dates present: 2026-11-24, 2026-11-25)" in err,
    )


def test_missing_mode_lists_the_partitions_present(sample_root: Path) -> None:
    """Asking for a mode/source that does not exist lists what does."""
    code, _, err = run("replay", str(sample_root), "--source", "kiwoom-rest")
    expected = (2, True)
    assert expected == (
        code,
        "present: mode=scalp source=kis-ws, mode=swing source=kis-rest" in err,
    )


@pytest.mark.parametrize("command", ["replay", "report", "verify", "rederive"])
def test_wrong_root_is_one_line_per_command(tmp_path: Path, command: str) -> None:
    """A directory that is no archive: exit 2, one line saying so, for every command."""
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = run(command, str(tmp_path))
    expected = (
        2,
        [
            f"Error: {tmp_path}: not an archive root (expected snapshots/, raw/ or "
            "ledger/ inside; found notes.txt)"
        ],
    )
    assert expected == (code, err.splitlines())


def test_nonexistent_root_says_so(tmp_path: Path) -> None:
    """A path that does not exist is named."""
    code, _, err = run("replay", str(tmp_path / "nope"))
    expected = (2, f"Error: {tmp_path / 'nope'}: no such directory\n")
    assert expected == (code, err)


def test_bad_date_is_a_usage_message(sample_root: Path) -> None:
    """An unparseable --date is explained, not a traceback."""
    code, _, err = run("replay", str(sample_root), "--date", "24/11/2026")
    expected = (2, True)
    assert expected == (code, "expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD" in err)


def test_report_on_a_truncated_ledger_still_reports_and_names_the_file(own_root: Path) -> None:
    """A cut ledger segment: the table is printed from what is intact, the cut named, exit 1."""
    target = sealed(own_root, "ledger")[0]
    target.write_bytes(target.read_bytes()[:-9])
    code, out, err = run("report", str(own_root))
    expected = (1, True, True, False)
    assert expected == (code, b"swing" in out, f"{target} at byte" in err, "Traceback" in err)


def test_verify_of_a_missing_day_says_so(sample_root: Path) -> None:
    """verify --date on a day the archive does not hold is a request error, not 'ok'."""
    code, _, err = run("verify", str(sample_root), "--date", "2026-12-01")
    expected = (2, True)
    assert expected == (code, "no partitions on 2026-12-01" in err)


@pytest.mark.parametrize("value", ["inf", "1e14", "nan"])
def test_an_unusable_max_skew_is_a_usage_message_naming_the_option(
    sample_root: Path, value: str
) -> None:
    """--max-skew beyond a day, infinite or NaN: exit 2 naming the option, no traceback."""
    code, _, err = run("verify", str(sample_root), "--max-skew", value)
    expected = (2, True, False)
    assert expected == (code, "'--max-skew'" in err, "Traceback" in err)


def test_a_plot_in_a_missing_directory_is_one_line(sample_root: Path, tmp_path: Path) -> None:
    """report --plot into a directory that does not exist: exit 2, one line naming the file."""
    target = tmp_path / "missing" / "r.png"
    code, _, err = run("report", str(sample_root), "--plot", str(target))
    expected = (2, f"Error: {target}: cannot write: No such file or directory\n")
    assert expected == (code, err)


def test_rederive_into_a_file_is_one_line(sample_root: Path, tmp_path: Path) -> None:
    """rederive -o naming an existing file: exit 2 saying it must be a directory."""
    target = tmp_path / "f"
    target.touch()
    code, _, err = run("rederive", str(sample_root), "-o", str(target))
    expected = (2, f"Error: {target}: --output must be a new or empty directory, not a file\n")
    assert expected == (code, err)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_strict_writes_the_intact_records_read_before_the_damage(
    own_root: Path, tmp_path: Path, fmt: str
) -> None:
    """--strict stops at a torn last frame, having written every record read before it."""
    target = sealed(own_root)[-1]
    target.write_bytes(target.read_bytes()[:-7])
    out = tmp_path / f"out.{fmt}"
    code, _, _ = run("replay", str(own_root), "--strict", "--format", fmt, "-o", str(out))
    rows = out.read_bytes().splitlines()[(1 if fmt == "csv" else 0) :]
    expected = (1, len(intact(own_root)))
    assert expected == (code, len(rows))


def test_verify_json_of_a_missing_day_prints_no_ok_document(sample_root: Path) -> None:
    """verify --json --date on an absent day: exit 2 and no '"ok": true' on stdout."""
    code, out, err = run("verify", str(sample_root), "--json", "--date", "2026-12-01")
    expected = (2, b"", True)
    assert expected == (code, out, "no partitions on 2026-12-01" in err)


def test_pace_with_csv_is_refused_before_the_output_file_is_made(
    sample_root: Path, tmp_path: Path
) -> None:
    """replay --pace with --format csv -o FILE: exit 2, and no empty FILE left behind."""
    target = tmp_path / "p.csv"
    code, _, _ = run(
        "replay", str(sample_root), "--pace", "5", "--format", "csv", "-o", str(target)
    )
    expected = (2, False)
    assert expected == (code, target.exists())
