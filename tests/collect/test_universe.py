"""The swing universe file: what it reads and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from observer._errors import ConfigError
from observer.collect import load_universe


def test_a_universe_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A CP949-saved file is refused with its name, not a UnicodeDecodeError traceback."""
    path = tmp_path / "universe.csv"
    path.write_bytes("005930,삼성전자\n".encode("cp949"))
    with pytest.raises(ConfigError, match=r"universe\.csv: not UTF-8 text"):
        load_universe(path)
