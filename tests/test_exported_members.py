"""Each package's ``__all__`` lists exactly its public names."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["pipeline", "archive", "observer"])
def test_all_lists_every_public_name(package: str) -> None:
    """Every public attribute is in __all__ and every __all__ name exists."""
    module = importlib.import_module(package)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "annotations"
        and not isinstance(value, type(importlib))
    }
    assert sorted(public) == sorted(module.__all__)
