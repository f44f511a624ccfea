from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# A fixed, CI-sized example budget; derandomized so every CI run checks the same examples.
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")


@pytest.fixture
def anyio_backend() -> str:
    """The anyio pytest plugin runs every async test on asyncio only."""
    return "asyncio"
