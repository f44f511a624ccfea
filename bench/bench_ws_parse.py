"""WebSocket frame parsing benchmark: records/s of ``observer.kis.parse_message``.

Two frame shapes, H0STCNT0 (46 fields) and H0STASP0 (59 fields), each as single-record frames
(``001``) and multi-record frames (``004``, as KIS batches busy symbols), in one run against a
naive baseline on the same frames:

- naive: ``text.split("|")``, ``payload.split("^")``, chunk by the known width: what a first
  client does, with no checks at all (it trusts the count, drops added fields into the next
  record and crashes on nothing only because it checks nothing);
- ours:  ``parse_message``: dispatch, count/width checks, records as tuples (extra trailing
  fields kept, short records counted), a frozen ``DataFrame`` struct.

Also timed (on a fifth of the frames): ours + conversion of every record to an
``ObservationSnapshot``, what the scalp fold pays per record.

    python bench/bench_ws_parse.py            # 100k records per case (well under a minute)
    python bench/bench_ws_parse.py --full     # 2M records per case
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections.abc import Callable
from pathlib import Path

from observer.kis import (
    DataFrame,
    SnapshotContext,
    parse_message,
    snapshot_from_orderbook_record,
    snapshot_from_trade_record,
)
from pipeline import Environment, Mode

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "kis"
WIDTH = {"H0STCNT0": 46, "H0STASP0": 59}


def sample_records(tr_id: str) -> list[list[str]]:
    name = "h0stcnt0_three_records" if tr_id == "H0STCNT0" else "h0stasp0_two_records"
    frame = parse_message((DATA / f"{name}.frame.txt").read_text(encoding="utf-8"))
    if not isinstance(frame, DataFrame):
        raise SystemExit(f"sample {name} is not a data frame")
    return [list(r) for r in frame.records]


def make_frames(tr_id: str, per_frame: int, n_records: int, rng: random.Random) -> list[str]:
    """Frames built from the checked-in samples with varied prices/volumes (no two alike)."""
    base = sample_records(tr_id)
    frames: list[str] = []
    for _ in range(n_records // per_frame):
        records = []
        for _ in range(per_frame):
            rec = list(rng.choice(base))
            rec[2 if tr_id == "H0STCNT0" else 3] = str(
                int(rec[2 if tr_id == "H0STCNT0" else 3]) + rng.randrange(0, 50) * 100
            )
            rec[13 if tr_id == "H0STCNT0" else 53] = str(rng.randrange(1, 10_000_000))
            records.append("^".join(rec))
        frames.append(f"0|{tr_id}|{per_frame:03d}|" + "^".join(records))
    return frames


def naive(text: str) -> list[list[str]]:
    parts = text.split("|")
    values = parts[3].split("^")
    width = WIDTH[parts[1]]
    return [values[i : i + width] for i in range(0, len(values), width)]


def ours(text: str) -> list[tuple[str, ...]]:
    message = parse_message(text)
    return list(message.records) if isinstance(message, DataFrame) else []


def make_ours_converted(tr_id: str) -> Callable[[str], list[object]]:
    ctx = SnapshotContext(
        mode=Mode.SCALP,
        environment=Environment.SIM,
        trading_day=dt.date(2023, 6, 12),
        receive_time=dt.datetime(2023, 6, 12, 0, 33, 54, tzinfo=dt.UTC),
    )
    convert = snapshot_from_trade_record if tr_id == "H0STCNT0" else snapshot_from_orderbook_record

    def run(text: str) -> list[object]:
        message = parse_message(text)
        if not isinstance(message, DataFrame):
            return []
        return [convert(r, ctx, record_index=i) for i, r in enumerate(message.records)]

    return run


def timed(fn: Callable[[str], list], frames: list[str], repeat: int) -> tuple[float, int]:
    best = float("inf")
    records = 0
    for _ in range(repeat):
        start = time.perf_counter()
        records = 0
        for text in frames:
            records += len(fn(text))
        best = min(best, time.perf_counter() - start)
    return best, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="2M records per case")
    parser.add_argument("--records", type=int, default=None, help="records per case")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.records or (2_000_000 if args.full else 100_000)
    rng = random.Random(7)
    print(f"records per case: {n:,}  (best of {args.repeat})")
    print(
        f"{'case':<24}{'naive rec/s':>14}{'ours rec/s':>14}{'ours/naive':>12}"
        f"{'+convert rec/s':>17}{'conv/naive':>12}"
    )
    for tr_id in ("H0STCNT0", "H0STASP0"):
        for per_frame in (1, 4):
            frames = make_frames(tr_id, per_frame, n, rng)
            t_naive, r_naive = timed(naive, frames, args.repeat)
            t_ours, r_ours = timed(ours, frames, args.repeat)
            subset = frames[: max(1, len(frames) // 5)]  # conversion is ~10x dearer: a fifth
            t_conv, r_conv = timed(make_ours_converted(tr_id), subset, args.repeat)
            if r_naive != r_ours or r_conv != len(subset) * per_frame:
                raise SystemExit(f"record counts differ: {r_naive} {r_ours} {r_conv}")
            rate_naive, rate_ours, rate_conv = r_naive / t_naive, r_ours / t_ours, r_conv / t_conv
            print(
                f"{tr_id + f' x{per_frame:03d}':<24}{rate_naive:>14,.0f}{rate_ours:>14,.0f}"
                f"{rate_ours / rate_naive:>12.2f}{rate_conv:>17,.0f}{rate_conv / rate_naive:>12.2f}"
            )


if __name__ == "__main__":
    main()
