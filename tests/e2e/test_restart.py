"""A run stopped and started again on the same archive: downtime booked, derivation exact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import anyio
import pytest

from archive import open_archive
from observer._errors import CollectionError
from observer.collect import project_journal, read_journal
from pipeline import encode
from tests.e2e._harness import DAY, SliceRun, simulate_slice


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def resumed(tmp_path_factory: pytest.TempPathFactory) -> SliceRun:
    root = tmp_path_factory.mktemp("restart") / "archive"
    with anyio.fail_after(100):
        await simulate_slice(root, length=dt.timedelta(minutes=2))
        return await simulate_slice(root, length=dt.timedelta(minutes=2), at_time=dt.time(9, 3))


@pytest.mark.slow
@pytest.mark.anyio
async def test_downtime_is_booked_as_missed_scalp_seconds(resumed: SliceRun) -> None:
    """The seconds between the first run's end and the second's start are booked missed."""
    missed = [e for e in resumed.ledger if e.cycle_id.startswith("scalp-missed-")]
    booked = sum(e.failed.get("missed", 0) for e in missed)
    assert (1, True) == (len(missed), 40 * 5 <= booked <= 60 * 5)


@pytest.mark.slow
@pytest.mark.anyio
async def test_resumed_day_rederives_byte_for_byte(resumed: SliceRun) -> None:
    """Both runs' archives are exactly the projection of the day's whole raw journal."""
    reader = open_archive(resumed.root)
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(resumed.root, DAY)))
    assert archived == rederived


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.zst"))}


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_slice_that_starts_before_the_journal_ends_is_refused(resumed: SliceRun) -> None:
    """Running the 09:00 slice again on an archive whose journal reaches 09:05 is refused
    with a clear error, and the archive is left exactly as it was."""
    before = _tree(resumed.root)
    with (
        anyio.fail_after(100),
        pytest.RaisesGroup(
            pytest.RaisesExc(CollectionError, match="already runs to 09:0"), flatten_subgroups=True
        ),
    ):
        await simulate_slice(resumed.root, length=dt.timedelta(minutes=2))
    assert before == _tree(resumed.root)
