"""Archives for the analyst tests: the sample writer (real pipeline + real archive writer)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from observer.analyst import SampleSummary, write_sample_archive
from pipeline import CycleEnded, CycleStarted, Environment, Mode, ScalpStruck, Source

DAY1 = dt.date(2026, 11, 24)
DAY2 = dt.date(2026, 11, 25)

#: small enough to write in well under a second, big enough for two days, both modes, loss
SAMPLE_ARGS: dict[str, object] = {
    "days": (DAY1, DAY2),
    "symbols": 12,
    "swing_every_s": 600,
    "scalp_symbols": 2,
    "scalp_minutes": 2,
    "timeout_every": 41,
}


def make_sample(root: Path) -> SampleSummary:
    """Write the standard two-day sample archive under ``root``."""
    return write_sample_archive(root, **SAMPLE_ARGS)  # type: ignore[arg-type]


def copy_tree(src: Path, dst: Path) -> Path:
    """A private copy of an archive (tests that damage files work on copies)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


def sealed(root: Path, family: str = "snapshots") -> list[Path]:
    """Sealed data files of a family, sorted."""
    return sorted((root / family).rglob("*.jsonl.zst"))


def cycle_events(ended: bool) -> list[CycleStarted | ScalpStruck | CycleEnded]:
    """A scalp cycle's start, one strike of two symbols and (if ``ended``) its end."""
    common: dict[str, Any] = {
        "mode": Mode.SCALP,
        "source": Source.KIS_WS,
        "environment": Environment.SIM,
        "trading_day": dt.date(2026, 11, 24),
        "receive_time": dt.datetime(2026, 11, 24, 0, 1, tzinfo=dt.UTC),
        "cycle_id": "scalp-20261124-090100",
    }
    at = common["receive_time"]
    events: list[CycleStarted | ScalpStruck | CycleEnded] = [
        CycleStarted(seq=1, scheduled_time=at, **common),
        ScalpStruck(seq=2, second=at, symbols=("005930", "000660"), **common),
    ]
    if ended:
        events.append(CycleEnded(seq=3, **common))
    return events
