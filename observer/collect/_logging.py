"""Structured logs: one JSON object a line, secrets masked, to a file or stderr."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

__all__ = ["JsonFormatter", "configure_json_logging"]

# LogRecord attributes that are not "extra" fields.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
_ENCODER: Final = msgspec.json.Encoder(order="deterministic")


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...extras}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = _plain(value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(doc).decode()


def configure_json_logging(target: Path | None, *, level: str = "INFO") -> logging.Handler:
    """Send every ``observer``/``pipeline``/``archive`` log to ``target`` (None: stderr).

    ``ConfigError`` names ``target`` when it cannot be opened (a directory, no such folder).
    """
    from observer.kis import install_secret_masking

    if target is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(target, encoding="utf-8")
        except OSError as exc:
            from observer._errors import ConfigError

            raise ConfigError(f"log file {target}: cannot open it ({exc.strerror})") from None
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    install_secret_masking([handler])
    # httpx logs every request line (with its query) at INFO: too chatty for an operator log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler logs each job it adds and each start and stop at INFO; its WARNINGs (a
    # missed run time, a job that raised) stay. Our own session_planned says what is planned.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
