"""Configuration of the three stages: frozen Structs, unknown keys are an error.

Decode from a mapping (``decode_config({...})``) or TOML text (``decode_config_toml(...)``);
both go through msgspec with ``forbid_unknown_fields=True``, so a typo is a
``PipelineConfigError`` naming the path (``$.guard.scalp.max_stalness_ms``), never a
silent default. Every field has a default; ``PipelineConfig()`` is the production setting.

Times of day are KST wall-clock times (TOML local times, ``08:30:00``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from ._errors import PipelineConfigError
from ._model import Mode, ObservationSnapshot, SessionPhase

__all__ = [
    "DEFAULT_PHASES",
    "EnrichmentConfig",
    "GuardConfig",
    "ModeGuardConfig",
    "PhaseStart",
    "PipelineConfig",
    "ValidationConfig",
    "config_mapping",
    "decode_config",
    "decode_config_toml",
]

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]


class PhaseStart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From ``start`` (KST, inclusive) until the next row's start, the session is ``phase``."""

    start: dt.time
    phase: SessionPhase


#: KRX sessions (shared/reference/kis-protocol.md §8). Before the first row it is CLOSED.
#: The closing call prints at 15:30 and the last after-hours match at 18:00, so each of
#: those phases keeps one minute of grace for prints stamped a few seconds late.
DEFAULT_PHASES: tuple[PhaseStart, ...] = (
    PhaseStart(dt.time(8, 30), SessionPhase.PRE_OPEN_AUCTION),
    PhaseStart(dt.time(9, 0), SessionPhase.REGULAR),
    PhaseStart(dt.time(15, 20), SessionPhase.CLOSING_AUCTION),
    PhaseStart(dt.time(15, 31), SessionPhase.CLOSED),
    PhaseStart(dt.time(15, 40), SessionPhase.POST_CLOSE),
    PhaseStart(dt.time(16, 0), SessionPhase.AFTER_HOURS),
    PhaseStart(dt.time(18, 1), SessionPhase.CLOSED),
)


class ValidationConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Is the snapshot well-formed and plausible?"""

    #: ``re.fullmatch`` pattern for ``symbol``; ETNs need ``[0-9]{6}|Q[0-9]{6}``.
    symbol_pattern: str = r"[0-9]{6}"
    #: fields that must not be ``None`` (names of ``ObservationSnapshot`` fields).
    required: tuple[str, ...] = ("last",)
    #: the exchange time (KST) must fall on the trading day, inside [day_start, day_end].
    day_start: dt.time = dt.time(8, 0)
    day_end: dt.time = dt.time(18, 0, 59, 999_999)

    def __post_init__(self) -> None:
        try:
            re.compile(self.symbol_pattern)
        except re.error as exc:
            raise ValueError(
                f"symbol_pattern {self.symbol_pattern!r} is not a regex: {exc}"
            ) from None
        fields = ObservationSnapshot.__struct_fields__
        for name in self.required:
            if name not in fields:
                raise ValueError(f"unknown snapshot field {name!r}")


class ModeGuardConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Guard limits for one collection mode."""

    #: drop when receive_time - exchange_time exceeds this.
    max_staleness_ms: PositiveInt
    #: drop when exchange_time is ahead of receive_time by more than this (clock skew).
    max_lead_ms: NonNegInt = 5_000
    #: at most ``burst_max`` admitted per (symbol, mode) within any ``burst_window_ms``
    #: of receive time (exchange time with ``burst_on_exchange_time``); 0 switches it off.
    burst_max: NonNegInt
    burst_window_ms: PositiveInt
    burst_on_exchange_time: bool = False


class GuardConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Should a valid snapshot be admitted?"""

    swing: ModeGuardConfig = ModeGuardConfig(
        max_staleness_ms=300_000, burst_max=5, burst_window_ms=60_000
    )
    scalp: ModeGuardConfig = ModeGuardConfig(
        max_staleness_ms=60_000, burst_max=5, burst_window_ms=1_000
    )
    #: drop when |last - ref| / ref exceeds this, ref = prev_close, else the previous
    #: admitted last of the symbol (same mode). In basis points: 3000 = 30 %. Only for a
    #: snapshot without both daily limits: with them, the exchange's band (checked by
    #: Validation) decides, since it is set around the base price, not the previous close.
    max_jump_bps: PositiveInt = 3_000
    #: phases (see ``PipelineConfig.phases``) in which a snapshot is out of session.
    closed_phases: frozenset[SessionPhase] = frozenset({SessionPhase.CLOSED})

    def for_mode(self, mode: Mode) -> ModeGuardConfig:
        return self.scalp if mode is Mode.SCALP else self.swing


class EnrichmentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rounding of the derived floats.

    ``spread_bps`` and ``return_since_prev`` are each one IEEE division of two exact
    integers, correctly rounded to the nearest double: the same bits on every platform
    and run. ``None`` keeps that quotient (the fast default); a number of digits applies
    ``round(x, digits)`` on top for shorter text, at a cost per snapshot.
    """

    spread_bps_digits: NonNegInt | None = None
    return_digits: NonNegInt | None = None


class PipelineConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """All stage settings. ``PipelineConfig()`` is the production default."""

    validation: ValidationConfig = ValidationConfig()
    guard: GuardConfig = GuardConfig()
    enrichment: EnrichmentConfig = EnrichmentConfig()
    #: KRX session phases by KST time of day, ascending (used by Guard and Enrichment).
    phases: tuple[PhaseStart, ...] = DEFAULT_PHASES
    #: the regular session (KST) that ``phases`` and the validation day bounds describe. A
    #: day that opens or closes at other times (the year's first session opens at 10:00; on
    #: the CSAT day everything runs an hour late) gets them shifted: see ``for_session``.
    regular_open: dt.time = dt.time(9, 0)
    regular_close: dt.time = dt.time(15, 30)

    def __post_init__(self) -> None:
        if not self.regular_open < self.regular_close:
            raise ValueError("regular_open must be before regular_close")
        if self.regular_open.tzinfo is not None or self.regular_close.tzinfo is not None:
            raise ValueError("regular_open/regular_close are KST wall-clock times")
        starts = [p.start for p in self.phases]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("phases must be in strictly ascending order of start")
        if any(p.start.tzinfo is not None for p in self.phases):
            raise ValueError("phase starts are KST wall-clock times without offset")
        v = self.validation
        if v.day_start.tzinfo is not None or v.day_end.tzinfo is not None:
            raise ValueError("day_start/day_end are KST wall-clock times")

    def for_session(self, session_open: dt.time, session_close: dt.time) -> PipelineConfig:
        """This config for a day whose regular session runs ``session_open``-``session_close``.

        Phases starting at or before ``regular_open`` (the opening auction, the open) and
        ``validation.day_start`` move with the open; the later ones (closing auction, close,
        closing-price and after-hours trading) and ``validation.day_end`` move with the
        close. Returns ``self`` for the regular session. Raises ``ValueError`` when a shift
        would push a time across midnight or out of order.
        """
        if (session_open, session_close) == (self.regular_open, self.regular_close):
            return self
        day = dt.date(2000, 1, 3)  # any date: only time-of-day arithmetic happens here
        to_open = _at(day, session_open) - _at(day, self.regular_open)
        to_close = _at(day, session_close) - _at(day, self.regular_close)

        def moved(t: dt.time, by: dt.timedelta) -> dt.time:
            shifted = _at(day, t) + by
            if shifted.date() != day:
                raise ValueError(
                    f"session {session_open}-{session_close}: {t} would move past midnight"
                )
            return shifted.time()

        phases = tuple(
            PhaseStart(
                moved(p.start, to_open if p.start <= self.regular_open else to_close), p.phase
            )
            for p in self.phases
        )
        v = self.validation
        validation = msgspec.structs.replace(
            v, day_start=moved(v.day_start, to_open), day_end=moved(v.day_end, to_close)
        )
        return msgspec.structs.replace(
            self,
            phases=phases,
            validation=validation,
            regular_open=session_open,
            regular_close=session_close,
        )


def _at(day: dt.date, t: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, t)


def config_mapping(config: PipelineConfig) -> dict[str, Any]:
    """``config`` as plain JSON builtins, every setting spelled out, sets sorted: what the raw
    journal records on each ``CycleStarted``. ``decode_config`` is its inverse."""
    mapping: dict[str, Any] = msgspec.to_builtins(config, order="deterministic")
    return mapping


def decode_config(data: Mapping[str, Any]) -> PipelineConfig:
    """``PipelineConfig`` from a mapping (e.g. one table of a larger TOML file)."""
    try:
        return msgspec.convert(data, PipelineConfig)
    except (msgspec.ValidationError, ValueError) as exc:
        raise PipelineConfigError(f"pipeline config: {exc}") from None


def decode_config_toml(text: str | bytes) -> PipelineConfig:
    """``PipelineConfig`` from TOML text whose top level is the config."""
    try:
        return msgspec.toml.decode(text, type=PipelineConfig)
    except (msgspec.DecodeError, ValueError) as exc:
        raise PipelineConfigError(f"pipeline config: {exc}") from None
