"""The swing universe file: what it reads and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from observer._errors import ConfigError
from observer.collect import load_universe, parse_universe


def test_a_universe_file_with_a_byte_order_mark_reads_its_first_code(tmp_path: Path) -> None:
    """A spreadsheet's UTF-8 CSV starts with a BOM; the first code is read without it."""
    path = tmp_path / "universe.csv"
    path.write_bytes("005930,삼성전자\n000660,SK하이닉스\n".encode("utf-8-sig"))
    assert ("005930", "000660") == load_universe(path)


def test_a_universe_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A CP949-saved file is refused with its name, not a UnicodeDecodeError traceback."""
    path = tmp_path / "universe.csv"
    path.write_bytes("005930,삼성전자\n".encode("cp949"))
    with pytest.raises(ConfigError, match=r"universe\.csv: not UTF-8 text"):
        load_universe(path)


@pytest.mark.parametrize("header", ["code,name", "SYMBOL", "종목코드,종목명"])
def test_a_csv_header_line_is_skipped(header: str) -> None:
    """A first line whose first column has no digit is a header, not a malformed code."""
    assert ("005930", "000660") == parse_universe([header, "005930,a", "000660,b"])


def test_a_header_like_line_after_the_first_is_still_an_error() -> None:
    """Only the first line may be a header: a non-code in the body names its line."""
    with pytest.raises(ConfigError, match=r"universe:3: 'code'"):
        parse_universe(["005930", "000660", "code"])
