"""Collectors: the raw journal, its projection into snapshots and ledger, swing and scalp."""

from ._journal import ArchiveRecord as ArchiveRecord
from ._journal import Journal as Journal
from ._journal import run_archive_sink as run_archive_sink
from ._projection import Projected as Projected
from ._projection import Projector as Projector
from ._projection import failure_cause as failure_cause
from ._projection import project_journal as project_journal
from ._swing import SWING_BATCH as SWING_BATCH
from ._swing import SwingCollector as SwingCollector
from ._swing import check_swing_capacity as check_swing_capacity
from ._swing import swing_cycle_id as swing_cycle_id

__all__ = [
    "SWING_BATCH",
    "ArchiveRecord",
    "Journal",
    "Projected",
    "Projector",
    "SwingCollector",
    "check_swing_capacity",
    "failure_cause",
    "project_journal",
    "run_archive_sink",
    "swing_cycle_id",
]
