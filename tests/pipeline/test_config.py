"""Pipeline config: frozen, decoded strictly from a mapping or TOML."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import (
    DEFAULT_PHASES,
    PipelineConfig,
    PipelineConfigError,
    decode_config,
    decode_config_toml,
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
