"""Checking what an analyst asked for against what the archive holds, before reading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

from archive import Family, Partition, open_archive

from ._errors import NoSuchDataError, NotAnArchiveError

__all__ = ["check_root", "parse_dates", "select_partitions"]


def check_root(root: Path | str) -> Path:
    """``root`` as a Path, or ``NotAnArchiveError`` saying why it is not an archive root."""
    path = Path(root)
    if not path.exists():
        raise NotAnArchiveError(f"{path}: no such directory")
    if not path.is_dir():
        raise NotAnArchiveError(f"{path}: not a directory")
    families = [f.value for f in Family if (path / f.value).is_dir()]
    if not families:
        inside = sorted(p.name for p in path.iterdir())[:5]
        hint = ""
        for parent in [path, *path.parents][1:4]:
            if any((parent / f.value).is_dir() for f in Family):
                hint = f"; did you mean {parent}?"
                break
        listing = ", ".join(inside) if inside else "nothing"
        raise NotAnArchiveError(
            f"{path}: not an archive root (expected snapshots/, raw/ or ledger/ inside; "
            f"found {listing}){hint}"
        )
    return path


def parse_dates(values: Iterable[str]) -> list[dt.date] | None:
    """``--date`` values: ``YYYY-MM-DD`` or a range ``YYYY-MM-DD..YYYY-MM-DD`` (inclusive)."""
    days: list[dt.date] = []
    for value in values:
        first, sep, last = value.partition("..")
        try:
            start = dt.date.fromisoformat(first.strip())
            end = dt.date.fromisoformat(last.strip()) if sep else start
        except ValueError:
            raise ValueError(
                f"--date {value!r}: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD"
            ) from None
        if end < start:
            raise ValueError(f"--date {value!r}: the range ends before it starts")
        days.extend(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return sorted(set(days)) if days else None


def select_partitions(
    root: Path,
    family: Family,
    *,
    dates: Sequence[dt.date] | None,
    mode: str | None,
    source: str | None,
) -> list[Partition]:
    """The partitions of ``family`` the filters select; ``NoSuchDataError`` if none.

    The message says which filter found nothing and lists what the archive holds. A
    directory that is not a partition is passed over here: the reader that reads the
    selection names it (skipped and reported, or an error under ``--strict``).
    """
    reader = open_archive(root, skip_corrupt=True)
    everything = reader.partitions(family)
    chosen = reader.partitions(family, dates=dates, mode=mode, source=source)
    if chosen:
        return chosen
    if not everything:
        raise NoSuchDataError(f"{root}: no {family.value} partitions at all")
    present_dates = sorted({p.date for p in everything})
    if dates is not None:
        missing = [d for d in dates if d not in present_dates]
        if len(missing) == len(dates):
            shown = ", ".join(d.isoformat() for d in present_dates[-10:])
            raise NoSuchDataError(
                f"{root}: no {family.value} for "
                + ", ".join(d.isoformat() for d in missing[:10])
                + f" (dates present: {shown})"
            )
    pairs = sorted({(p.mode, p.source) for p in everything if dates is None or p.date in dates})
    shown = ", ".join(f"mode={m} source={s}" for m, s in pairs)
    asked = " ".join(f"{k}={v}" for k, v in (("mode", mode), ("source", source)) if v)
    raise NoSuchDataError(f"{root}: no {family.value} partition with {asked} (present: {shown})")
