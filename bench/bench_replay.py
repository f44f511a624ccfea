"""Replay speed against its floor and against DuckDB, on the same files, in one run.

    python bench/bench_replay.py            # ~120k snapshots, well under two minutes
    python bench/bench_replay.py --full     # ~860k snapshots (a large share of a KRX day)

Writes a synthetic archive with the real pipeline and writer (``write_sample_archive``),
then times over the same ``snapshots/**/*.jsonl.zst`` files:

- floor: zstd decompression of every frame (one shot per frame; the frame boundaries come
  from walking the frame headers, a few reads per frame) + msgspec's typed decode of every
  line, nothing else: what any reader of this format must at least do. For reference, the
  same with zstd's streaming reader across frames (no boundaries needed, ~2× slower to
  decompress);
- replay: ``observer replay`` to a discarding sink (``observer.analyst.replay`` on
  ``archive.query_snapshots``: partitions, frame walking, damage checks, schema checks,
  JSON Lines out);
- typed iteration: ``for snap in archive.query_snapshots(root)`` and the archive reader's
  ``open_archive(root).snapshots()``;
- DuckDB ``SELECT count(*) FROM read_json(...)`` over the same files (its own threads);
- Arrow: ``query_snapshots(root).to_arrow()``.

Each figure is the best of ``--repeat`` runs (3), measured in this one process. Prints
records/s for each and the ratios to the floor. Acceptance (issue 5): replay reaches
at least 70 % of the floor.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zstandard

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from archive import open_archive, query_snapshots  # noqa: E402
from archive._frames import walk_frames  # noqa: E402
from observer.analyst import replay, write_sample_archive  # noqa: E402
from pipeline import SNAPSHOT_DECODER  # noqa: E402


class _Discard:
    """A binary sink that keeps nothing (so we time replay, not the disk)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def floor(files: list[Path]) -> int:
    """Read each file, decompress each frame in one shot, decode each line: nothing else."""
    decode = SNAPSHOT_DECODER.decode
    dctx = zstandard.ZstdDecompressor()
    n = 0
    for path in files:
        data = path.read_bytes()
        for span in walk_frames(data).frames:  # header walk: boundaries only
            text = dctx.decompress(data[span.start : span.end])
            for line in text.split(b"\n"):
                if line:
                    decode(line)
                    n += 1
    return n


def streaming_floor(files: list[Path]) -> int:
    """The same with zstd's streaming reader across frames (no header walk; slower)."""
    decode = SNAPSHOT_DECODER.decode
    dctx = zstandard.ZstdDecompressor()
    n = 0
    for path in files:
        with open(path, "rb") as fh:
            data = dctx.stream_reader(fh, read_across_frames=True).read()
        for line in data.split(b"\n"):
            if line:
                decode(line)
                n += 1
    return n


def timed(
    measures: list[tuple[str, Callable[[], int]]], repeat: int
) -> list[tuple[str, int, float]]:
    """Best of ``repeat`` rounds, each round running every measure once in turn (so a burst
    of load on a shared machine hits them alike; noise only ever adds time)."""
    best = {name: float("inf") for name, _ in measures}
    counts = dict.fromkeys(best, 0)
    for _ in range(repeat):
        for name, fn in measures:
            gc.collect()
            start = time.perf_counter()
            counts[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return [(name, counts[name], best[name]) for name, _ in measures]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="~860k snapshots instead of ~120k")
    parser.add_argument("--root", type=Path, help="reuse/keep the archive here")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs each (3)")
    args = parser.parse_args()
    size = (
        {"symbols": 2500, "swing_every_s": 150, "scalp_symbols": 20, "scalp_minutes": 390}
        if args.full
        else {"symbols": 300, "swing_every_s": 60, "scalp_symbols": 10, "scalp_minutes": 30}
    )
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        root = args.root or Path(tmp) / "archive"
        if not (root / "snapshots").is_dir():
            start = time.perf_counter()
            summary = write_sample_archive(root, **size)  # type: ignore[arg-type]
            print(f"wrote {summary.snapshots} snapshots in {time.perf_counter() - start:.1f} s")
        files = sorted((root / "snapshots").rglob("*.jsonl.zst"))
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"archive: {len(files)} snapshot segments, {size_mb:.1f} MB zstd\n")

        import duckdb

        glob = f"{root}/snapshots/**/*.jsonl.zst"

        def duck() -> int:
            ((count,),) = duckdb.sql(f"SELECT count(*) FROM read_json('{glob}')").fetchall()
            return int(count)

        def replayed() -> int:
            return replay(query_snapshots(root), _Discard()).records  # type: ignore[arg-type]

        def typed() -> int:
            return sum(1 for _ in query_snapshots(root))

        def reader() -> int:
            return sum(1 for _ in open_archive(root).snapshots())

        def arrow() -> int:
            return int(query_snapshots(root).to_arrow().num_rows)

        results = timed(
            [
                ("floor: zstd + msgspec decode", lambda: floor(files)),
                ("replay (observer replay, JSONL)", replayed),
                ("floor, zstd streaming reader", lambda: streaming_floor(files)),
                ("typed iteration (query_snapshots)", typed),
                ("archive reader (.snapshots())", reader),
                ("DuckDB count(*) read_json", duck),
                ("Arrow table (to_arrow)", arrow),
            ],
            args.repeat,
        )
    counts = {n for _, n, _ in results}
    if len(counts) != 1:
        print(f"record counts disagree: {[(name, n) for name, n, _ in results]}")
        return 1
    base = results[0][1] / results[0][2]
    print(f"{'':36} {'records':>9} {'seconds':>8} {'records/s':>11} {'vs floor':>9}")
    for name, n, seconds in results:
        rate = n / seconds
        print(f"{name:36} {n:>9} {seconds:>8.2f} {rate:>11,.0f} {rate / base:>8.0%}")
    replay_ratio = (results[1][1] / results[1][2]) / base
    verdict = "PASS" if replay_ratio >= 0.70 else "FAIL"
    print(f"\nacceptance: replay at {replay_ratio:.0%} of the floor (needs >= 70 %): {verdict}")
    return 0 if replay_ratio >= 0.70 else 1


if __name__ == "__main__":
    raise SystemExit(main())
