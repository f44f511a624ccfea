from __future__ import annotations

from pathlib import Path

import pytest

from observer.analyst import SampleSummary
from tests.analyst.helpers import copy_tree, make_sample


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    """The two-day sample archive, shared read-only by the tests of this directory."""
    root = tmp_path_factory.mktemp("sample") / "archive"
    return root, make_sample(root)


@pytest.fixture
def sample_root(sample: tuple[Path, SampleSummary]) -> Path:
    """Root of the shared sample archive (read-only)."""
    return sample[0]


@pytest.fixture
def own_root(sample: tuple[Path, SampleSummary], tmp_path: Path) -> Path:
    """A private copy of the sample archive that the test may damage."""
    return copy_tree(sample[0], tmp_path / "archive")
