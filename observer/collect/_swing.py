"""The swing collector: the whole universe over REST, one cycle per swing tick (the run's
universe is ``swing_symbols``: the scalp symbols first, then the configured universe).

A cycle journals, in order: ``CycleStarted`` (the universe it expects), one ``RestResponse``
per multi-price call (30 symbols each) as it arrives, a ``CollectionFailed`` for every call
that failed (with the cause its error maps to), and ``CycleEnded``. A few workers share the
client, whose one rate limiter paces every request of the app key (swing and scalp
fallbacks alike).

A cycle must finish inside its interval: at ``scheduled + interval`` (market time) a call
still being retried is booked with the cause of the error its last attempt ended with (a
5xx outage is ``server_error``, a rate-limit burst ``rate_limit``), and what is still pending
or was never answered is booked as ``missed`` — never silently skipped — or as ``auth`` when
the client then has no usable token (a revoked one whose replacement KIS throttles): those
requests could not have been sent in any time. A tick that fired too late is booked
whole as ``missed``; a cycle cut by shutdown books the rest as ``cancelled``.

Paper accounts (about 2 requests/s, no multi-price call) fetch symbol by symbol with the
current-price call; ``check_swing_capacity`` refuses at startup a universe that cannot fit
the interval at the account's rate.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import anyio
import msgspec

from pipeline import KST, Environment, FailureCause, Mode, PipelineConfig, Source, config_mapping

from .._clock import Clock
from .._errors import ConfigError, ObserverError
from ..schedule import Tick
from ._events import CycleHeader, Session
from ._journal import Journal
from ._projection import failure_cause

if TYPE_CHECKING:  # pragma: no cover
    from observer.kis import KisRestClient, RestResult

__all__ = [
    "SWING_BATCH",
    "SwingCollector",
    "check_swing_capacity",
    "swing_cycle_id",
    "swing_symbols",
]

SWING_BATCH: Final = 30  # symbols per multi-price call (FHKST11300006)
_CAPACITY_HEADROOM: Final = 0.8  # plan to use at most 80 % of an interval's request budget


def swing_cycle_id(scheduled: dt.datetime) -> str:
    return f"swing-{scheduled.astimezone(KST):%Y%m%d-%H%M%S}"


def swing_symbols(universe: Sequence[str], scalp_symbols: Sequence[str]) -> tuple[str, ...]:
    """What the swing cycles quote: the scalp symbols first, then the universe in its order,
    each symbol once. A socket snapshot carries no daily price limits: a scalp symbol's band
    comes from its swing quote, so the first call of every cycle (the open's too) brings it,
    also for a scalp symbol the universe lacks."""
    return tuple(dict.fromkeys((*scalp_symbols, *universe)))


def check_swing_capacity(
    universe_size: int,
    *,
    rate_per_s: float,
    interval: dt.timedelta,
    multi_price: bool,
) -> int:
    """Requests one cycle needs; ``ConfigError`` when they cannot fit the interval."""
    requests = -(-universe_size // SWING_BATCH) if multi_price else universe_size
    if rate_per_s <= 0:
        return requests
    budget = int(rate_per_s * interval.total_seconds() * _CAPACITY_HEADROOM)
    if requests > budget:
        how = "multi-price calls" if multi_price else "current-price calls (no multi-price call)"
        raise ConfigError(
            f"swing universe of {universe_size} symbols needs {requests} {how} per cycle, but "
            f"{rate_per_s:g} requests/s fit only {budget} in a "
            f"{interval.total_seconds():g} s interval (with 20 % headroom); shrink the "
            "universe or use a live account"
        )
    return requests


class SwingCollector:
    """Runs swing cycles for a fixed universe (see the module doc)."""

    def __init__(
        self,
        *,
        client: KisRestClient,
        journal: Journal,
        clock: Clock,
        universe: Sequence[str],
        environment: Environment,
        interval: dt.timedelta,
        multi_price: bool = True,
        workers: int = 4,
        session: Session | None = None,
        pipeline_config: PipelineConfig | None = None,
    ) -> None:
        if not universe:
            raise ConfigError("the swing universe is empty")
        self._client = client
        self._journal = journal
        self._clock = clock
        self.universe = tuple(universe)
        self._environment = environment
        self._interval = interval
        self._multi_price = multi_price
        self._workers = max(1, workers)
        self._session = session  # journaled with every cycle start
        self._stages = None if pipeline_config is None else config_mapping(pipeline_config)
        size = SWING_BATCH if multi_price else 1
        self._batches = [self.universe[i : i + size] for i in range(0, len(self.universe), size)]

    async def _fetch(
        self, batch: tuple[str, ...], errors: dict[tuple[str, ...], Exception]
    ) -> RestResult:
        def seen(exc: Exception) -> None:
            errors[batch] = exc  # the last error of the batch's attempts so far

        if self._multi_price:
            return await self._client.inquire_multi_price(batch, on_error=seen)
        return await self._client.inquire_price(batch[0], on_error=seen)

    async def run_cycle(self, tick: Tick, trading_day: dt.date) -> None:
        """One swing cycle for ``tick`` (journaled start to end, whatever happens)."""
        journal, clock = self._journal, self._clock
        header = CycleHeader(
            Mode.SWING,
            Source.KIS_REST,
            self._environment,
            trading_day,
            swing_cycle_id(tick.scheduled),
            self._session,
            self._stages,
        )
        await journal.append(
            header.started(clock.now(), scheduled=tick.scheduled, symbols=self.universe)
        )
        if tick.missed:
            await journal.append(
                header.failed(
                    clock.now(),
                    cause=FailureCause.MISSED,
                    symbols=self.universe,
                    detail="the swing tick fired after its grace time",
                )
            )
            await journal.append(header.ended(clock.now()))
            return
        pending = deque(self._batches)
        in_flight: set[tuple[str, ...]] = set()
        errors: dict[tuple[str, ...], Exception] = {}  # in flight: its last attempt's error
        cut, detail = FailureCause.MISSED, "cycle overran its interval"

        async def worker() -> None:
            while pending:
                batch = pending.popleft()
                in_flight.add(batch)  # until answered: a batch the cut finds here is booked
                try:
                    result = await self._fetch(batch, errors)
                except ObserverError as exc:
                    in_flight.discard(batch)
                    await journal.append(
                        header.failed(
                            clock.now(),
                            cause=failure_cause(exc),
                            symbols=batch,
                            detail=f"{type(exc).__name__}: {exc}",
                        )
                    )
                else:
                    in_flight.discard(batch)
                    raw = result.to_raw_event(
                        mode=Mode.SWING, trading_day=trading_day, cycle_id=header.cycle_id
                    )
                    await journal.append(msgspec.structs.replace(raw, receive_time=clock.now()))

        deadline = tick.scheduled + self._interval
        budget = max(0.0, (deadline - clock.now()).total_seconds()) / clock.speed
        try:
            with anyio.move_on_after(budget):
                async with anyio.create_task_group() as tg:
                    for _ in range(min(self._workers, len(self._batches))):
                        tg.start_soon(worker)
        except anyio.get_cancelled_exc_class():
            cut, detail = FailureCause.CANCELLED, "cut by shutdown"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                failed: dict[FailureCause, tuple[list[str], str]] = {}
                if cut is FailureCause.MISSED:  # a call being retried: what it last met
                    for batch in sorted(in_flight):
                        last = errors.get(batch)
                        if last is not None:
                            in_flight.discard(batch)
                            why = f"{detail}; last error {type(last).__name__}: {last}"
                            failed.setdefault(failure_cause(last), ([], why))[0].extend(batch)
                leftover = [s for batch in [*sorted(in_flight), *pending] for s in batch]
                if leftover:
                    if cut is FailureCause.MISSED and not self._client.auth.has_usable_token:
                        # none could have been sent: they failed for want of a token, not time
                        cut, detail = FailureCause.AUTH, "no access token when the interval ended"
                    failed.setdefault(cut, ([], detail))[0].extend(leftover)
                for cause, (symbols, why) in failed.items():
                    await journal.append(
                        header.failed(clock.now(), cause=cause, symbols=symbols, detail=why)
                    )
                await journal.append(header.ended(clock.now()))
