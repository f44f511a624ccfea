"""A clean simulated slice through the real main job: nothing lost, and the truth agrees."""

from __future__ import annotations

import anyio
import pytest

from archive import open_archive
from observer.collect import project_journal, read_journal
from observer.status import QUOTE_METRIC_KEYS
from pipeline import CycleStarted, Mode, encode
from tests.e2e._harness import DAY, SESSION, SliceRun, simulate_slice


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def clean(tmp_path_factory: pytest.TempPathFactory) -> SliceRun:
    with anyio.fail_after(90):
        return await simulate_slice(tmp_path_factory.mktemp("clean") / "archive", probe=True)


@pytest.mark.anyio
async def test_clean_run_books_loss_zero(clean: SliceRun) -> None:
    """Four simulated minutes with no fault: the ledger books no loss at all."""
    assert 0 == clean.lost()


@pytest.mark.anyio
async def test_clean_run_collects_swing_and_scalp(clean: SliceRun) -> None:
    """Swing cycles at 09:00, 09:02 and the final 09:04 (the universe and the scalp
    symbols); scalp every second of four minutes."""
    expected = (3 * (len(clean.universe) + len(clean.scalp)), 240 * len(clean.scalp))
    assert expected == (clean.expected(Mode.SWING), clean.expected(Mode.SCALP))


@pytest.mark.anyio
async def test_clean_run_ledger_loss_equals_truth_loss(clean: SliceRun) -> None:
    """Swing loss in the ledger equals what the simulator's log says it never served."""
    assert clean.truth_swing_lost() == clean.lost(Mode.SWING)


@pytest.mark.anyio
async def test_clean_run_archives_what_the_ledger_says(clean: SliceRun) -> None:
    """Snapshots on disk number exactly the ledger's archived total."""
    assert sum(e.archived for e in clean.ledger) == len(clean.snapshots())


@pytest.mark.anyio
async def test_rederiving_the_raw_journal_reproduces_the_archive_byte_for_byte(
    clean: SliceRun,
) -> None:
    """The journal alone, projected again, gives the archived snapshots and ledger exactly."""
    reader = open_archive(clean.root)
    archived = sorted(encode(r) for r in [*reader.snapshots(), *reader.ledger()])
    rederived = sorted(encode(r) for r in project_journal(read_journal(clean.root, DAY)))
    assert archived == rederived


@pytest.mark.anyio
async def test_status_endpoint_serves_the_runbook_keys_during_the_run(clean: SliceRun) -> None:
    """Mid-run, /v1/metrics/quote has exactly the runbook keys and a live socket."""
    metrics = clean.probed["quote_metrics"]
    assert isinstance(metrics, dict)
    assert (sorted(QUOTE_METRIC_KEYS), True, True) == (
        sorted(metrics),
        metrics["ws_connected"],
        metrics["ws_heartbeat_fresh"],
    )


@pytest.mark.anyio
async def test_status_endpoint_serves_a_scalp_quote_with_its_source(clean: SliceRun) -> None:
    """Mid-run, /v1/quotes/{symbol} answers with a snapshot of that symbol and its source."""
    quote = clean.probed["quote"]
    assert isinstance(quote, dict)
    assert (clean.scalp[0], True) == (quote["symbol"], quote["source"] in ("kis-ws", "kis-rest"))


@pytest.mark.anyio
async def test_prometheus_text_exports_the_archive_stream(clean: SliceRun) -> None:
    """Mid-run, /metrics carries the archive stream's backpressure gauges."""
    text = clean.probed["metrics"]
    assert isinstance(text, str)
    assert (True, True) == (
        'observer_stream_buffer_size{stream="archive"}' in text,
        'observer_stream_blocked_sends_total{stream="archive"}' in text,
    )


@pytest.mark.anyio
async def test_every_cycle_start_journals_the_days_session(clean: SliceRun) -> None:
    """Each CycleStarted carries the session the stages shift their phases by."""
    starts = [e for e in read_journal(clean.root, DAY) if isinstance(e, CycleStarted)]
    sessions = {(e.mode, e.session_open, e.session_close) for e in starts}
    assert {
        (Mode.SWING, SESSION.open, SESSION.close),
        (Mode.SCALP, SESSION.open, SESSION.close),
    } == sessions


@pytest.mark.anyio
async def test_the_run_log_plans_the_session_then_sums_up_the_day(clean: SliceRun) -> None:
    """``session_planned`` names the day, its hours and the login; ``session_ended`` adds
    up to what the ledger archived."""
    (planned,) = clean.events("session_planned")
    (ended,) = clean.events("session_ended")
    cycles: dict[str, int] = {}
    for entry in clean.ledger:
        cycles[str(entry.mode)] = cycles.get(str(entry.mode), 0) + 1
    expected = (
        (DAY.isoformat(), SESSION.open.isoformat(), SESSION.close.isoformat()),
        (cycles, clean.expected(), sum(e.archived for e in clean.ledger), clean.lost(), False),
    )
    assert expected == (
        (planned["day"], planned["open"], planned["close"]),
        (ended["cycles"], ended["expected"], ended["archived"], ended["lost"], ended["cut"]),
    )
