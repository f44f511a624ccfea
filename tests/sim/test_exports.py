"""``observer.sim`` exports exactly its public names, and its reprs hold no secret."""

from __future__ import annotations

import importlib

import observer.sim
from observer.sim import SimConfig


def test_all_lists_every_public_name() -> None:
    """Every public attribute of observer.sim is in __all__ and every name exists."""
    public = {
        name
        for name, value in vars(observer.sim).items()
        if not name.startswith("_") and not isinstance(value, type(importlib))
    }
    assert sorted(public) == sorted(observer.sim.__all__)


def test_config_repr_masks_credentials() -> None:
    """SimConfig's repr never shows a configured app key or secret in full."""
    key, secret = "PS" + "k" * 34, "s" * 180
    text = repr(SimConfig(app_key=key, app_secret=secret))
    assert (False, False, True) == (key in text, secret in text, "PSkk…(36 chars)" in text)
