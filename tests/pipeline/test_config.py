"""Pipeline config: frozen, decoded strictly from a mapping or TOML."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import (
    DEFAULT_PHASES,
    EnrichmentConfig,
    GuardConfig,
    PipelineConfig,
    PipelineConfigError,
    SessionPhase,
    config_mapping,
    decode_config,
    decode_config_toml,
    encode,
)


def test_empty_mapping_gives_the_defaults() -> None:
    """Every field has a default."""
    assert PipelineConfig() == decode_config({})


def test_toml_sets_nested_values() -> None:
    """TOML tables map to the sub-configs; local times to KST times of day."""
    config = decode_config_toml(
        b"""
[validation]
day_start = 07:30:00
symbol_pattern = "[0-9]{6}|Q[0-9]{6}"

[guard.scalp]
max_staleness_ms = 10000
burst_max = 3
burst_window_ms = 1000
"""
    )
    assert (dt.time(7, 30), "[0-9]{6}|Q[0-9]{6}", 10_000, 3) == (
        config.validation.day_start,
        config.validation.symbol_pattern,
        config.guard.scalp.max_staleness_ms,
        config.guard.scalp.burst_max,
    )


def test_unknown_key_is_an_error_naming_its_path() -> None:
    """A typo is an error, not a silent default."""
    with pytest.raises(
        PipelineConfigError, match=r"unknown field `max_stalness_ms` - at `\$.guard.scalp`"
    ):
        decode_config(
            {"guard": {"scalp": {"max_stalness_ms": 1, "burst_max": 1, "burst_window_ms": 1}}}
        )


def test_negative_limit_is_an_error() -> None:
    """Limits are constrained (staleness > 0)."""
    with pytest.raises(PipelineConfigError, match=r"\$.guard.swing.max_staleness_ms"):
        decode_config(
            {"guard": {"swing": {"max_staleness_ms": 0, "burst_max": 1, "burst_window_ms": 1}}}
        )


def test_unknown_required_field_is_an_error() -> None:
    """``required`` names snapshot fields; a misspelt one is refused."""
    with pytest.raises(PipelineConfigError, match="unknown snapshot field 'lst'"):
        decode_config({"validation": {"required": ["lst"]}})


def test_symbol_pattern_that_is_not_a_regex_is_an_error() -> None:
    """A broken pattern fails when the config is read, not on the first snapshot."""
    with pytest.raises(PipelineConfigError, match=r"symbol_pattern '\[0-9' is not a regex"):
        decode_config({"validation": {"symbol_pattern": "[0-9"}})


def test_phases_out_of_order_are_an_error() -> None:
    """The phase table must ascend."""
    rows = [{"start": "09:00:00", "phase": "regular"}, {"start": "08:30:00", "phase": "closed"}]
    with pytest.raises(PipelineConfigError, match="ascending"):
        decode_config({"phases": rows})


def test_config_is_frozen() -> None:
    """A config cannot be changed after it is built."""
    config = PipelineConfig()
    with pytest.raises(AttributeError):
        config.phases = DEFAULT_PHASES  # type: ignore[misc]


def test_csat_day_shifts_every_phase_one_hour() -> None:
    """Open 10:00, close 16:30: the auctions, closing-price and after-hours trading move too."""
    late = PipelineConfig().for_session(dt.time(10, 0), dt.time(16, 30))
    assert [
        ("09:30", SessionPhase.PRE_OPEN_AUCTION),
        ("10:00", SessionPhase.REGULAR),
        ("16:20", SessionPhase.CLOSING_AUCTION),
        ("16:31", SessionPhase.CLOSED),
        ("16:40", SessionPhase.POST_CLOSE),
        ("17:00", SessionPhase.AFTER_HOURS),
        ("19:01", SessionPhase.CLOSED),
    ] == [(f"{p.start:%H:%M}", p.phase) for p in late.phases]
    assert (dt.time(9, 0), dt.time(19, 0, 59, 999_999)) == (
        late.validation.day_start,
        late.validation.day_end,
    )


def test_late_open_with_the_usual_close_moves_only_the_morning() -> None:
    """The year's first session (10:00-15:30): the close and everything after it stay put."""
    config = PipelineConfig()
    late = config.for_session(dt.time(10, 0), dt.time(15, 30))
    assert [dt.time(9, 30), dt.time(10, 0)] == [p.start for p in late.phases[:2]]
    assert config.phases[2:] == late.phases[2:]
    assert config.validation.day_end == late.validation.day_end


def test_the_usual_session_is_the_config_itself() -> None:
    """for_session of the regular hours returns the very same config (no copy)."""
    config = PipelineConfig()
    assert config.for_session(dt.time(9, 0), dt.time(15, 30)) is config


def test_a_session_shift_past_midnight_is_an_error_naming_the_time() -> None:
    """A close at 23:00 would push the after-hours end past midnight: a clear error."""
    with pytest.raises(ValueError, match="18:01:00 would move past midnight"):
        PipelineConfig().for_session(dt.time(9, 0), dt.time(23, 0))


@settings(max_examples=60)
@given(
    phases=st.permutations(list(SessionPhase)).flatmap(
        lambda order: st.integers(0, len(order)).map(lambda n: order[:n])
    ),
    jump=st.integers(1, 10_000),
    digits=st.none() | st.integers(0, 12),
)
def test_config_mapping_round_trips_and_does_not_depend_on_set_order(
    phases: list[SessionPhase], jump: int, digits: int | None
) -> None:
    """What the journal records decodes back to the config, and the same settings give the
    same bytes however the closed phases were listed (a set iterates in hash order)."""
    config = PipelineConfig(
        guard=GuardConfig(max_jump_bps=jump, closed_phases=frozenset(phases)),
        enrichment=EnrichmentConfig(spread_bps_digits=digits),
    )
    listed_otherwise = PipelineConfig(
        guard=GuardConfig(max_jump_bps=jump, closed_phases=frozenset(reversed(phases))),
        enrichment=EnrichmentConfig(spread_bps_digits=digits),
    )
    expected = (config, encode(config_mapping(config)))
    assert expected == (
        decode_config(config_mapping(config)),
        encode(config_mapping(listed_otherwise)),
    )
