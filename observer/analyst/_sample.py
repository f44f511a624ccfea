"""A small, deterministic synthetic archive for examples, tests and benchmarks.

``write_sample_archive(root)`` runs made-up quotes through the real ``pipeline.Pipeline``
(Validation → Guard → Enrichment, with the ledger) and writes the admitted snapshots, the
ledger entries and the scheduler's raw events with the real ``archive.ArchiveWriter``. It
is not the simulator: no broker protocol, just plausible KRX numbers on the tick grid, so
that analyst tools have a complete archive to read in a fraction of a second.

Per trading day: a swing cycle every ``swing_every_s`` seconds over ``symbols`` from 09:00
to 15:30 KST (source kis-rest), and a scalp cycle every second over the first
``scalp_symbols`` of them for ``scalp_minutes`` minutes from 09:00 (source kis-ws, with
10-level depth). A deterministic fraction of observations times out (``failed``) so the
ledger shows loss; one cycle per day has a bad print (twice the previous close, past the
upper price limit) that Validation rejects as ``outside_limits``.

The journal holds the scheduler's events only (cycle starts and ends, failures), not the
broker payloads the snapshots would come from, so ``rederive`` cannot reproduce the
snapshots of a sample archive: it re-derives archives ``observer run`` wrote.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

from pipeline import (
    KST,
    Admitted,
    CollectionFailed,
    CycleEnded,
    CycleStarted,
    Environment,
    FailureCause,
    Lineage,
    Market,
    Mode,
    ObservationSnapshot,
    Pipeline,
    PipelineConfig,
    Source,
    ceil_to_tick,
    floor_to_tick,
    tick_size,
)

__all__ = ["SampleSummary", "write_sample_archive"]

_UTC = dt.UTC


@dataclasses.dataclass(frozen=True, slots=True)
class SampleSummary:
    """What ``write_sample_archive`` wrote."""

    days: tuple[dt.date, ...]
    snapshots: int
    ledger_entries: int
    raw_events: int
    expected: int
    lost: int


class _Quote:
    __slots__ = ("last", "prev_close", "volume")

    def __init__(self, prev_close: int) -> None:
        self.prev_close = prev_close
        self.last = prev_close
        self.volume = 0

    def step(self, rng: random.Random) -> None:
        tick = tick_size(self.last)
        self.last = max(tick, self.last + rng.choice((-2, -1, -1, 0, 0, 0, 1, 1, 2)) * tick)
        upper = floor_to_tick(self.prev_close * 13 // 10)
        lower = ceil_to_tick(self.prev_close * 7 // 10)
        self.last = min(max(self.last, lower), upper)
        self.volume += rng.randrange(0, 5_000)


def _symbols(n: int) -> list[str]:
    return [f"{(i * 7919 + 5930) % 1_000_000:06d}" for i in range(n)]


def write_sample_archive(
    root: Path | str,
    *,
    days: Sequence[dt.date] = (dt.date(2026, 11, 24),),
    symbols: int = 20,
    swing_every_s: int = 180,
    scalp_symbols: int = 3,
    scalp_minutes: int = 5,
    timeout_every: int = 97,
    seed: int = 7,
    config: PipelineConfig | None = None,
) -> SampleSummary:
    """Write a synthetic archive under ``root`` (see the module doc); same args → same bytes."""
    from archive import ArchiveWriter

    universe = _symbols(symbols)
    scalpers = universe[:scalp_symbols]
    counts = {"snapshots": 0, "ledger": 0, "raw": 0, "expected": 0, "lost": 0}
    # A frozen clock: frames are cut only by flush() at cycle ends, so output is reproducible.
    with ArchiveWriter(root, clock=lambda: 0.0) as writer:
        for day in days:
            rng = random.Random(f"{seed}-{day.isoformat()}")
            pipeline = Pipeline(config)
            quotes = {s: _Quote(rng.randrange(1_000, 200_000)) for s in universe}
            for q in quotes.values():
                q.prev_close = floor_to_tick(q.prev_close)
                q.last = q.prev_close
            seqs: dict[tuple[str, Mode], int] = {}
            raw_seq = 0

            open_at = dt.datetime.combine(day, dt.time(9, 0), KST)
            events: list[tuple[dt.datetime, Mode, int]] = []
            for k in range(0, 6 * 3600 + 30 * 60, swing_every_s):
                events.append((open_at + dt.timedelta(seconds=k), Mode.SWING, k))
            for k in range(scalp_minutes * 60):
                events.append((open_at + dt.timedelta(seconds=k, milliseconds=500), Mode.SCALP, k))
            events.sort(key=lambda e: (e[0], e[1] is Mode.SCALP))
            jump_cycle = len(events) // 3
            for n, (at, mode, k) in enumerate(events):
                source = Source.KIS_REST if mode is Mode.SWING else Source.KIS_WS
                members = universe if mode is Mode.SWING else scalpers
                cycle_id = f"{mode}-{day:%Y%m%d}-{k:05d}"
                raw_seq += 1
                started = CycleStarted(
                    seq=raw_seq,
                    mode=mode,
                    source=source,
                    environment=Environment.SIM,
                    trading_day=day,
                    receive_time=at.astimezone(_UTC),
                    cycle_id=cycle_id,
                    scheduled_time=at,
                    symbols=tuple(members),
                )
                writer.append(started)
                pipeline.apply(started)
                failed: list[str] = []
                for i, symbol in enumerate(members):
                    quote = quotes[symbol]
                    quote.step(rng)
                    if (n * len(members) + i) % timeout_every == timeout_every - 1:
                        failed.append(symbol)
                        continue
                    last = quote.last
                    if n == jump_cycle and i == 0:
                        last = quote.prev_close * 2  # a bad print: outside_limits
                    snap = _snapshot(
                        rng, quote, last, symbol, mode, source, day, at, cycle_id, raw_seq
                    )
                    outcome = pipeline.process(snap)
                    if type(outcome) is Admitted:
                        admitted = outcome.snapshot
                        seq = _next_seq(seqs, "snapshots", mode)
                        writer.append(_with_seq(admitted, seq))
                        counts["snapshots"] += 1
                if failed:
                    raw_seq += 1
                    event = CollectionFailed(
                        seq=raw_seq,
                        mode=mode,
                        source=source,
                        environment=Environment.SIM,
                        trading_day=day,
                        receive_time=(at + dt.timedelta(milliseconds=300)).astimezone(_UTC),
                        cycle_id=cycle_id,
                        cause=FailureCause.TIMEOUT,
                        symbols=tuple(failed),
                    )
                    writer.append(event)
                    pipeline.apply(event)
                raw_seq += 1
                ended = CycleEnded(
                    seq=raw_seq,
                    mode=mode,
                    source=source,
                    environment=Environment.SIM,
                    trading_day=day,
                    receive_time=(at + dt.timedelta(milliseconds=400)).astimezone(_UTC),
                    cycle_id=cycle_id,
                )
                writer.append(ended)
                entry = pipeline.apply(ended)
                assert entry is not None  # CycleEnded always returns the cycle's entry
                writer.append(entry)  # numbered with its CycleEnded raw seq, as the projection does
                writer.flush()
                counts["ledger"] += 1
                counts["raw"] += 3 if failed else 2
                counts["expected"] += entry.expected
                counts["lost"] += entry.expected - entry.archived - entry.deduplicated
    return SampleSummary(
        days=tuple(days),
        snapshots=counts["snapshots"],
        ledger_entries=counts["ledger"],
        raw_events=counts["raw"],
        expected=counts["expected"],
        lost=counts["lost"],
    )


def _next_seq(seqs: dict[tuple[str, Mode], int], family: str, mode: Mode) -> int:
    key = (family, mode)
    seqs[key] = seqs.get(key, 0) + 1
    return seqs[key]


def _with_seq(record: object, seq: int) -> object:
    import msgspec

    return msgspec.structs.replace(record, seq=seq)  # type: ignore[type-var]


def _snapshot(
    rng: random.Random,
    quote: _Quote,
    last: int,
    symbol: str,
    mode: Mode,
    source: Source,
    day: dt.date,
    at: dt.datetime,
    cycle_id: str,
    raw_seq: int,
) -> ObservationSnapshot:
    tick = tick_size(quote.last)
    bid = quote.last - tick
    ask = quote.last
    exchange = at - dt.timedelta(milliseconds=rng.randrange(0, 400))
    receive = (at + dt.timedelta(milliseconds=rng.randrange(20, 90))).astimezone(_UTC)
    depth = 10 if mode is Mode.SCALP else 0
    return ObservationSnapshot(
        symbol=symbol,
        market=Market.KOSPI if int(symbol) % 2 else Market.KOSDAQ,
        mode=mode,
        source=source,
        environment=Environment.SIM,
        trading_day=day,
        exchange_time=exchange,
        receive_time=receive,
        cycle_id=cycle_id,
        last=last,
        open=quote.prev_close,
        high=max(quote.prev_close, last, ask),
        low=min(quote.prev_close, last, bid),
        prev_close=quote.prev_close,
        upper_limit=floor_to_tick(quote.prev_close * 13 // 10),
        lower_limit=ceil_to_tick(quote.prev_close * 7 // 10),
        change=last - quote.prev_close,
        change_rate_pct=round((last - quote.prev_close) * 100 / quote.prev_close, 2),
        volume=quote.volume,
        turnover=quote.volume * quote.last,
        bid=bid,
        ask=ask,
        bid_size=rng.randrange(1, 10_000),
        ask_size=rng.randrange(1, 10_000),
        bid_prices=tuple(bid - i * tick for i in range(depth)),
        bid_sizes=tuple(rng.randrange(1, 10_000) for _ in range(depth)),
        ask_prices=tuple(ask + i * tick for i in range(depth)),
        ask_sizes=tuple(rng.randrange(1, 10_000) for _ in range(depth)),
        hour_cls_code="0",
        status_code="55",
        lineage=Lineage(raw_mode=mode, raw_source=source, raw_seqs=(raw_seq,)),
    )
