"""One cycle's scheduler events, built from one header (mode, source, day, cycle id)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, NamedTuple

from pipeline import (
    CollectionFailed,
    CycleEnded,
    CycleStarted,
    Environment,
    FailureCause,
    Mode,
    ScalpStruck,
    Source,
)

__all__ = ["CycleHeader", "Session"]

#: A trading day's regular session: (open, close), aware.
Session = tuple[dt.datetime, dt.datetime]


class CycleHeader(NamedTuple):
    """The fields every raw event of one collection cycle shares."""

    mode: Mode
    source: Source
    environment: Environment
    trading_day: dt.date
    cycle_id: str
    session: Session | None = None  # the day's regular session, journaled on the start
    #: the stage settings (``pipeline.config_mapping``), journaled on the start
    pipeline_config: dict[str, Any] | None = None

    def started(
        self, when: dt.datetime, *, scheduled: dt.datetime, symbols: Iterable[str] = ()
    ) -> CycleStarted:
        opens, closes = self.session if self.session is not None else (None, None)
        return CycleStarted(
            mode=self.mode,
            source=self.source,
            environment=self.environment,
            trading_day=self.trading_day,
            cycle_id=self.cycle_id,
            receive_time=when,
            scheduled_time=scheduled,
            symbols=tuple(symbols),
            session_open=opens,
            session_close=closes,
            pipeline_config=self.pipeline_config,
        )

    def struck(
        self,
        when: dt.datetime,
        *,
        second: dt.datetime,
        symbols: Iterable[str],
        fallback: Iterable[str] = (),
    ) -> ScalpStruck:
        return ScalpStruck(
            mode=self.mode,
            source=self.source,
            environment=self.environment,
            trading_day=self.trading_day,
            cycle_id=self.cycle_id,
            receive_time=when,
            second=second,
            symbols=tuple(symbols),
            fallback_symbols=tuple(fallback),
        )

    def failed(
        self,
        when: dt.datetime,
        *,
        cause: FailureCause,
        symbols: Iterable[str],
        detail: str = "",
    ) -> CollectionFailed:
        return CollectionFailed(
            mode=self.mode,
            source=self.source,
            environment=self.environment,
            trading_day=self.trading_day,
            cycle_id=self.cycle_id,
            receive_time=when,
            cause=cause,
            symbols=tuple(symbols),
            detail=detail[:200],
        )

    def ended(self, when: dt.datetime) -> CycleEnded:
        return CycleEnded(
            mode=self.mode,
            source=self.source,
            environment=self.environment,
            trading_day=self.trading_day,
            cycle_id=self.cycle_id,
            receive_time=when,
        )
