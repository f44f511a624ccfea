"""Where things live in an archive root: Hive-style partitions and segment file names.

::

    ROOT/.observer.lock                                     one `observer run` per root
    ROOT/{snapshots,raw,ledger}/date=YYYY-MM-DD/mode=<mode>/source=<source>/
        .lock                                               one writer per partition
        part-<first_seq:012d>.jsonl.zst.open                open segment (being written)
        part-<first_seq:012d>-<last_seq:012d>.jsonl.zst     sealed segment (immutable)
        part-<first_seq:012d>-<last_seq:012d>.manifest.json its manifest

A glob on ``**/*.jsonl.zst`` (DuckDB ``read_json``, Polars ``scan_ndjson``) sees only sealed
segments; temporary files start with a dot. Seqs are zero-padded so that name order is seq
order within a partition.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import os
import re
from pathlib import Path
from typing import Final

from pipeline import LedgerEntry, ObservationSnapshot
from pipeline._model import (
    CollectionFailed,
    CycleEnded,
    CycleStarted,
    RestResponse,
    ScalpStruck,
    WsFrame,
)

__all__ = [
    "DATA_SUFFIX",
    "FAMILY_OF_TYPE",
    "MANIFEST_SUFFIX",
    "OPEN_SUFFIX",
    "Family",
    "Partition",
    "SegmentName",
    "fsync_dir",
]

DATA_SUFFIX: Final = ".jsonl.zst"
OPEN_SUFFIX: Final = ".jsonl.zst.open"
MANIFEST_SUFFIX: Final = ".manifest.json"
LOCK_NAME: Final = ".lock"
ROOT_LOCK_NAME: Final = ".observer.lock"


class Family(enum.StrEnum):
    """The three record families, each under its own top-level directory."""

    SNAPSHOTS = "snapshots"
    RAW = "raw"
    LEDGER = "ledger"


FAMILY_OF_TYPE: Final[dict[type, Family]] = {
    ObservationSnapshot: Family.SNAPSHOTS,
    RestResponse: Family.RAW,
    WsFrame: Family.RAW,
    CycleStarted: Family.RAW,
    ScalpStruck: Family.RAW,
    CollectionFailed: Family.RAW,
    CycleEnded: Family.RAW,
    LedgerEntry: Family.LEDGER,
}

_DIR_RE: Final = re.compile(r"^(?P<key>date|mode|source)=(?P<value>[A-Za-z0-9_.\-]+)$")


def _plain(value: object) -> str:
    # StrEnum members hash by name, not by value: normalize to the plain str value so a
    # Partition built from Mode.SWING equals (and hashes like) one built from "swing".
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One Hive partition: a record family on one trading day, for one mode and source."""

    family: Family
    date: dt.date
    mode: str
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(_plain(self.family)))
        object.__setattr__(self, "mode", _plain(self.mode))
        object.__setattr__(self, "source", _plain(self.source))
        for key in ("mode", "source"):
            if not _DIR_RE.match(f"{key}={getattr(self, key)}"):
                raise ValueError(f"partition {key} {getattr(self, key)!r} is not a safe name")

    @classmethod
    def of(cls, record: object) -> Partition:
        """The partition a record belongs to (its family, trading day, mode and source)."""
        family = FAMILY_OF_TYPE.get(type(record))
        if family is None:
            raise TypeError(f"{type(record).__name__} is not an archive record type")
        return cls(
            family,
            record.trading_day,  # type: ignore[attr-defined]
            record.mode,  # type: ignore[attr-defined]
            record.source,  # type: ignore[attr-defined]
        )

    @classmethod
    def from_dir(cls, root: Path, directory: Path) -> Partition:
        """Parse ``ROOT/family/date=…/mode=…/source=…`` back into a Partition."""
        family, *parts = directory.relative_to(root).parts
        values: dict[str, str] = {}
        for part in parts:
            match = _DIR_RE.match(part)
            if match is None:
                raise ValueError(f"{directory}: {part!r} is not a key=value partition directory")
            values[match["key"]] = match["value"]
        if set(values) != {"date", "mode", "source"} or len(parts) != 3:
            raise ValueError(f"{directory}: not a date=/mode=/source= partition directory")
        try:
            date = dt.date.fromisoformat(values["date"])
        except ValueError:
            raise ValueError(f"{directory}: {values['date']!r} is not a date") from None
        try:
            return cls(Family(family), date, values["mode"], values["source"])
        except ValueError as exc:
            raise ValueError(f"{directory}: {exc}") from None

    @property
    def relpath(self) -> str:
        """``family/date=YYYY-MM-DD/mode=…/source=…`` (POSIX separators)."""
        return f"{self.family}/date={self.date.isoformat()}/mode={self.mode}/source={self.source}"

    def dir(self, root: Path | str) -> Path:
        """The partition's directory under ``root``."""
        return (
            Path(root)
            / self.family
            / f"date={self.date.isoformat()}"
            / (f"mode={self.mode}")
            / f"source={self.source}"
        )

    def __str__(self) -> str:
        return self.relpath


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentName:
    """The name of a segment file: its first seq, and its last seq once sealed."""

    first_seq: int
    last_seq: int | None = None  # None while open

    _RE = re.compile(
        r"^part-(?P<first>\d{12,})(?:-(?P<last>\d{12,}))?"
        r"(?P<suffix>\.jsonl\.zst\.open|\.jsonl\.zst|\.manifest\.json)$"
    )

    @property
    def is_open(self) -> bool:
        return self.last_seq is None

    @property
    def stem(self) -> str:
        if self.last_seq is None:
            return f"part-{self.first_seq:012d}"
        return f"part-{self.first_seq:012d}-{self.last_seq:012d}"

    @property
    def data(self) -> str:
        """File name of the data file (``.jsonl.zst.open`` while open)."""
        return self.stem + (OPEN_SUFFIX if self.is_open else DATA_SUFFIX)

    @property
    def manifest(self) -> str:
        """File name of the manifest (sealed segments only)."""
        return self.stem + MANIFEST_SUFFIX

    def sealed(self, last_seq: int) -> SegmentName:
        return SegmentName(self.first_seq, last_seq)

    @classmethod
    def parse(cls, name: str) -> tuple[SegmentName, str] | None:
        """``(SegmentName, suffix)`` of a segment or manifest file name, else None."""
        match = cls._RE.match(name)
        if match is None:
            return None
        last = match["last"]
        suffix = match["suffix"]
        if (suffix == OPEN_SUFFIX) != (last is None):
            return None
        return cls(int(match["first"]), None if last is None else int(last)), suffix


def fsync_dir(directory: Path) -> None:
    """fsync a directory so that renames and creations inside it are durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_partition_dirs(root: Path, family: Family) -> list[Path]:
    """Every ``date=/mode=/source=`` directory of a family, sorted (date, mode, source)."""
    base = root / family
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob("date=*/mode=*/source=*") if p.is_dir())
