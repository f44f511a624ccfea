"""Properties of the query the analyst tools stand on (hypothesis, "ci" profile)."""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from archive import ArchiveReader, query_snapshots
from observer.analyst import SampleSummary
from pipeline import KST, ObservationSnapshot
from tests.analyst.helpers import sealed

SYMBOLS = [f"{(i * 7919 + 5930) % 1_000_000:06d}" for i in range(12)]  # the sample's universe
minutes = st.integers(min_value=8 * 60 + 50, max_value=15 * 60 + 40)


@functools.cache
def _everything(root: Path) -> list[ObservationSnapshot]:
    return list(ArchiveReader(root).snapshots())


def _tod(s: ObservationSnapshot) -> dt.time:
    return s.exchange_time.astimezone(KST).time().replace(tzinfo=None)


@given(
    symbols=st.sets(st.sampled_from(SYMBOLS), min_size=1, max_size=4),
    bounds=st.tuples(minutes, minutes).map(sorted),
)
def test_filters_select_exactly_the_matching_records(
    sample: tuple[Path, SampleSummary], symbols: set[str], bounds: list[int]
) -> None:
    """Any symbol set and time-of-day window: the query is the plain filter of a full read."""
    root = sample[0]
    start, end = (dt.time(m // 60, m % 60) for m in bounds)
    everything = _everything(root)
    expected = [s for s in everything if s.symbol in symbols and start <= _tod(s) < end]
    got = list(query_snapshots(root, symbols=symbols, start=start, end=end))
    assert expected == got


@settings(max_examples=30)
@given(cut=st.integers(min_value=1, max_value=20_000))
def test_a_cut_segment_reads_as_the_reader_reads_it(
    sample: tuple[Path, SampleSummary], cut: int
) -> None:
    """Cut a sealed segment anywhere: the query keeps what the lenient reader keeps."""
    source = min(sealed(sample[0]), key=lambda p: p.stat().st_size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "archive"
        target = root / source.relative_to(sample[0])
        target.parent.mkdir(parents=True)
        data = source.read_bytes()
        target.write_bytes(data[: max(0, len(data) - cut)])
        expected = list(ArchiveReader(root, skip_corrupt=True).snapshots())
        got = list(query_snapshots(root, skip_corrupt=True))
    assert expected == got
