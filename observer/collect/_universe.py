"""The swing universe: from a configured file, or from the simulator's master list.

File format: one symbol a line, the code in the first comma/whitespace-separated column
(``005930`` or ``005930,KOSPI,삼성전자``); blank lines and ``#`` comments are skipped. A line
whose code is not six characters (or ``Q`` + six digits for ETNs) is an error naming the
line; a repeated code is kept once, first position wins. The first line may be a CSV header
(``code,name``, ``SYMBOL``: a first column without a digit, which no KRX code lacks) and is
skipped; a file may start with a UTF-8 byte order mark (as spreadsheets save CSV).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import httpx

from .._errors import ConfigError

__all__ = ["fetch_master_list", "load_universe", "parse_universe"]

_CODE: Final = re.compile(r"[0-9A-Z]{6}|Q[0-9]{6}")
_SPLIT: Final = re.compile(r"[,\s]+")


def parse_universe(lines: Iterable[str], *, origin: str = "universe") -> tuple[str, ...]:
    """The symbol codes in ``lines`` (see the module doc for the format)."""
    seen: dict[str, None] = {}
    first = True
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        code = _SPLIT.split(text, maxsplit=1)[0]
        header, first = first and not any(c.isdigit() for c in code), False
        if header:
            continue
        if not _CODE.fullmatch(code):
            raise ConfigError(f"{origin}:{number}: {code[:20]!r} is not a KRX symbol code")
        seen.setdefault(code, None)
    return tuple(seen)


def load_universe(path: Path | str) -> tuple[str, ...]:
    """The universe in the file at ``path``; ``ConfigError`` when missing, unreadable or empty."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"universe file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"universe file {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    codes = parse_universe(text.splitlines(), origin=str(path))
    if not codes:
        raise ConfigError(f"universe file {path} lists no symbol")
    return codes


async def fetch_master_list(url: str, *, timeout_s: float = 10.0) -> tuple[str, ...]:
    """The codes of a master list served as JSON ``[{code, ...}, ...]`` (the simulator's)."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url)
            response.raise_for_status()
            rows = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ConfigError(f"master list {url}: {type(exc).__name__}: {exc}") from None
    if not isinstance(rows, list):
        raise ConfigError(f"master list {url}: expected a JSON array")
    return parse_universe(
        (str(row.get("code", "")) if isinstance(row, dict) else "" for row in rows),
        origin=url,
    )
