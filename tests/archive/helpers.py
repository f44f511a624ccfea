"""Builders shared by the archive tests: plain records, a fake clock, file surgery."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from pipeline import (
    KST,
    CycleEnded,
    Environment,
    LedgerEntry,
    Mode,
    ObservationSnapshot,
    Source,
    WsFrame,
)

DAY = dt.date(2026, 11, 24)
OPEN = dt.datetime(2026, 11, 24, 9, 0, tzinfo=KST)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def snapshot(
    seq: int,
    *,
    symbol: str | None = None,
    day: dt.date = DAY,
    mode: Mode = Mode.SWING,
    source: Source = Source.KIS_REST,
    ms: int | None = None,
) -> ObservationSnapshot:
    """A plain snapshot; exchange time moves 1 ms per seq unless ``ms`` says otherwise."""
    exchange = dt.datetime.combine(day, OPEN.timetz()) + dt.timedelta(
        milliseconds=seq if ms is None else ms
    )
    return ObservationSnapshot(
        seq=seq,
        symbol=symbol if symbol is not None else f"{seq % 7:06d}",
        mode=mode,
        source=source,
        environment=Environment.SIM,
        trading_day=day,
        exchange_time=exchange,
        receive_time=(exchange + dt.timedelta(milliseconds=40)).astimezone(dt.UTC),
        cycle_id="swing-20261124-1",
        last=70000 + seq % 13 * 100,
        volume=seq * 10,
    )


def snapshots(seqs: Iterable[int], **kwargs: object) -> list[ObservationSnapshot]:
    return [snapshot(seq, **kwargs) for seq in seqs]  # type: ignore[arg-type]


def ws_frame(seq: int, text: str, *, day: dt.date = DAY) -> WsFrame:
    return WsFrame(
        seq=seq,
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=day,
        receive_time=dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seq),
        text=text,
    )


def cycle_ended(seq: int, *, day: dt.date = DAY) -> CycleEnded:
    return CycleEnded(
        seq=seq,
        mode=Mode.SCALP,
        source=Source.KIS_WS,
        environment=Environment.SIM,
        trading_day=day,
        receive_time=dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seq),
        cycle_id="scalp-20261124-1",
    )


def ledger_entry(seq: int, *, day: dt.date = DAY) -> LedgerEntry:
    start = dt.datetime.combine(day, OPEN.timetz())
    return LedgerEntry(
        seq=seq,
        cycle_id=f"swing-{day:%Y%m%d}-{seq}",
        mode=Mode.SWING,
        source=Source.KIS_REST,
        environment=Environment.SIM,
        trading_day=day,
        started_at=start,
        ended_at=start + dt.timedelta(seconds=3),
        expected=10,
        received=10,
        archived=9,
        rejected={"price_band": 1},
    )


def data_files(root: Path, pattern: str = "*.jsonl.zst*") -> list[Path]:
    """Every data file (sealed and open) under root, sorted."""
    return sorted(p for p in root.rglob(pattern) if ".manifest" not in p.name)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Relative path → content of every non-lock file under root."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def restate_manifest(path: Path) -> None:
    """Make a sealed segment's manifest state the file's present size and sha256 (as if the
    file had been written so), for tests that rewrite a segment's bytes by hand."""
    import msgspec

    from archive._manifest import read_manifest, sha256_file, write_manifest

    stem = path.name.removesuffix(".jsonl.zst")
    manifest_name = stem + ".manifest.json"
    sha, size = sha256_file(path)
    manifest = read_manifest(path.with_name(manifest_name))
    restated = msgspec.structs.replace(manifest, sha256=sha, size_bytes=size)
    write_manifest(path.parent, manifest_name, restated)


def block_header_offset(data: bytes, frame_start: int = 0) -> int:
    """Offset of the first block header of the zstd frame at ``frame_start`` (RFC 8878)."""
    descriptor = data[frame_start + 4]
    single_segment = bool(descriptor & 0x20)
    dict_id_size = (0, 1, 2, 4)[descriptor & 0x03]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    return frame_start + 5 + (0 if single_segment else 1) + dict_id_size + fcs_size


def claim_huge_block(path: Path, frame_start: int = 0) -> None:
    """Damage a frame's first block header so that the block seems to run past the end of
    the file (a compressed last block of 2 MiB): how a flipped size byte looks to a walk."""
    data = bytearray(path.read_bytes())
    at = block_header_offset(bytes(data), frame_start)
    data[at : at + 3] = ((0x1FFFFF << 3) | (2 << 1) | 1).to_bytes(3, "little")
    path.write_bytes(bytes(data))
