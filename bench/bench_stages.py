"""Stage benchmark: what Validation, Guard, Enrichment and the runner cost per snapshot.

One run, the same prebuilt snapshots (a swing day of 2,500 symbols on the KRX tick grid),
against a baseline in the same run: the deterministic msgspec encode that every archived
snapshot pays anyway (the no-stage floor's main cost after building the Struct).

- encode:   ``pipeline.ENCODER.encode(snapshot)`` (baseline)
- validate: ``validate(snapshot, None, config)``
- guard:    ``guard(snapshot, state, config)`` with the state folded so far
- enrich:   ``enrich(snapshot, state, config)``
- process:  ``Pipeline.process`` — all three stages, the fold and the ledger

    python bench/bench_stages.py            # 100k snapshots (well under a minute)
    python bench/bench_stages.py --n 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import time
from collections.abc import Callable

from pipeline import (
    ENCODER,
    KST,
    Admitted,
    Environment,
    Lineage,
    Market,
    Mode,
    ObservationSnapshot,
    Pipeline,
    PipelineConfig,
    Source,
    SymbolState,
    enrich,
    floor_to_tick,
    fold,
    guard,
    tick_size,
    validate,
)

DAY = dt.date(2026, 11, 24)
OPEN = dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=KST)


def generate(n: int, universe: int, seed: int) -> list[ObservationSnapshot]:
    """``n`` swing snapshots, cycle after cycle over ``universe`` symbols, random-walking."""
    rng = random.Random(seed)
    symbols = [f"{i * 397 % 1_000_000:06d}" for i in range(1, universe + 1)]
    prev = [floor_to_tick(int(rng.lognormvariate(9.5, 1.2)) + 1_000) for _ in symbols]
    last = list(prev)
    volume = [0] * universe
    out: list[ObservationSnapshot] = []
    cycle = 0
    while len(out) < n:
        start = OPEN + dt.timedelta(seconds=150 * cycle)
        for i, symbol in enumerate(symbols[: n - len(out)]):
            p = last[i] + rng.choice((-1, 0, 1)) * tick_size(last[i])
            p = min(
                max(p, floor_to_tick(prev[i] * 7 // 10 + tick_size(prev[i]))), prev[i] * 13 // 10
            )
            p = floor_to_tick(p)
            last[i] = p
            volume[i] += rng.randrange(0, 5_000)
            exchange = start + dt.timedelta(seconds=i * 60 // universe)
            receive = (exchange + dt.timedelta(milliseconds=rng.randrange(50, 900))).astimezone(
                dt.UTC
            )
            seq = len(out) + 1
            out.append(
                ObservationSnapshot(
                    seq=seq,
                    symbol=symbol,
                    market=Market.KOSPI,
                    mode=Mode.SWING,
                    source=Source.KIS_REST,
                    environment=Environment.SIM,
                    trading_day=DAY,
                    exchange_time=exchange,
                    receive_time=receive,
                    cycle_id=f"swing-{cycle + 1}",
                    last=p,
                    open=prev[i],
                    high=max(p, prev[i]),
                    low=min(p, prev[i]),
                    prev_close=prev[i],
                    upper_limit=floor_to_tick(prev[i] * 13 // 10),
                    lower_limit=floor_to_tick(-(-prev[i] * 7 // 10) + tick_size(prev[i])),
                    change=p - prev[i],
                    change_rate_pct=round((p - prev[i]) * 100 / prev[i], 2),
                    volume=volume[i],
                    turnover=volume[i] * p,
                    bid=p,
                    ask=p + tick_size(p),
                    bid_size=rng.randrange(1, 20_000),
                    ask_size=rng.randrange(1, 20_000),
                    lineage=Lineage(
                        raw_mode=Mode.SWING, raw_source=Source.KIS_REST, raw_seqs=(seq,)
                    ),
                )
            )
        cycle += 1
    return out


def timed(label: str, fn: Callable[[], object], n: int, baseline: float | None) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - t0
    per = elapsed / n * 1e6
    ratio = f"{elapsed / baseline:5.2f}× encode" if baseline else "baseline"
    print(f"  {label:9s} {per:7.2f} µs/snapshot  {n / elapsed:10,.0f} /s   {ratio}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="snapshots (default 100k)")
    parser.add_argument("--universe", type=int, default=2_500)
    args = parser.parse_args()
    config = PipelineConfig()
    print(f"generating {args.n:,} snapshots over {args.universe:,} symbols …")
    snaps = generate(args.n, args.universe, seed=7)
    n = len(snaps)
    # the state each snapshot sees: the fold of the admitted ones before it
    states: list[SymbolState | None] = []
    folded: dict[str, SymbolState] = {}
    for s in snaps:
        state = folded.get(s.symbol)
        states.append(state)
        if type(guard(s, state, config)) is Admitted:
            folded[s.symbol] = fold(state, s, config)
    pairs = list(zip(snaps, states, strict=True))

    def run_encode() -> None:
        encode = ENCODER.encode
        for s in snaps:
            encode(s)

    def run_validate() -> None:
        for s in snaps:
            validate(s, None, config)

    def run_guard() -> None:
        for s, state in pairs:
            guard(s, state, config)

    def run_enrich() -> None:
        for s, state in pairs:
            enrich(s, state, config)

    def run_process() -> None:
        pipeline = Pipeline(config)
        cycle = ""
        for s in snaps:
            if s.cycle_id != cycle:
                if cycle:
                    pipeline.end_cycle(cycle, s.receive_time)
                cycle = s.cycle_id
                pipeline.begin_cycle(
                    cycle,
                    mode=Mode.SWING,
                    source=Source.KIS_REST,
                    environment=Environment.SIM,
                    trading_day=DAY,
                    started_at=s.receive_time,
                )
            pipeline.process(s)

    print("per snapshot, same input, one run:")
    base = timed("encode", run_encode, n, None)
    timed("validate", run_validate, n, base)
    timed("guard", run_guard, n, base)
    timed("enrich", run_enrich, n, base)
    timed("process", run_process, n, base)


if __name__ == "__main__":
    main()
