"""Structured run logs: one JSON object a line, extra fields kept, secrets masked."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer._errors import ConfigError
from observer.collect._logging import configure_json_logging
from observer.kis import Secret

APP_KEY = "PS" + "q" * 34


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "run.jsonl"
    handler = configure_json_logging(path, level="INFO")
    try:
        yield path
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_log_line_is_json_with_its_extra_fields(log_file: Path) -> None:
    """An event with extra fields becomes one JSON line carrying them."""
    logging.getLogger("observer.run").info("cycle_booked", extra={"cycle": "swing-1", "lost": 0})
    (line,) = log_file.read_text().splitlines()
    record = json.loads(line)
    assert ("cycle_booked", "swing-1", 0) == (record["event"], record["cycle"], record["lost"])


def test_app_key_never_reaches_the_log_file(log_file: Path) -> None:
    """A credential in a message or an extra field is written masked."""
    key = Secret(APP_KEY)
    log = logging.getLogger("observer.run")
    log.warning("login with %s", key.reveal(), extra={"header": key.reveal()})
    assert False is (APP_KEY in log_file.read_text())


def test_scheduler_chatter_stays_out_warnings_get_in(log_file: Path) -> None:
    """APScheduler's INFO lines (each job added, started, shut down) are not written; its
    warnings (a missed run time) are."""
    scheduler = logging.getLogger("apscheduler.scheduler")
    scheduler.info("Added job %r to job store %r", "fire", "default")
    scheduler.warning("Run time of job %r was missed by %s", "fire", "0:00:02")
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert ["Run time of job 'fire' was missed by 0:00:02"] == events


def test_a_log_file_that_cannot_be_opened_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A directory given as the log file is refused with its path, not an IsADirectoryError."""
    with pytest.raises(ConfigError, match=f"log file {re.escape(str(tmp_path))}: cannot open it"):
        configure_json_logging(tmp_path)
