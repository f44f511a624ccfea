"""Collectors: the raw journal, its projection into snapshots and ledger, swing and scalp."""

from ._journal import ArchiveRecord as ArchiveRecord
from ._journal import Journal as Journal
from ._journal import run_archive_sink as run_archive_sink
from ._projection import Projected as Projected
from ._projection import Projector as Projector
from ._projection import failure_cause as failure_cause
from ._projection import project_journal as project_journal
from ._runner import RunResult as RunResult
from ._runner import RunSettings as RunSettings
from ._runner import check_symbols as check_symbols
from ._runner import read_journal as read_journal
from ._runner import read_pipeline_config as read_pipeline_config
from ._runner import run_collection as run_collection
from ._scalp import MAX_SCALP_SYMBOLS as MAX_SCALP_SYMBOLS
from ._scalp import ScalpCollector as ScalpCollector
from ._scalp import scalp_cycle_id as scalp_cycle_id
from ._swing import SWING_BATCH as SWING_BATCH
from ._swing import SwingCollector as SwingCollector
from ._swing import check_swing_capacity as check_swing_capacity
from ._swing import swing_cycle_id as swing_cycle_id
from ._swing import swing_symbols as swing_symbols
from ._universe import fetch_master_list as fetch_master_list
from ._universe import load_universe as load_universe
from ._universe import parse_universe as parse_universe

__all__ = [
    "MAX_SCALP_SYMBOLS",
    "SWING_BATCH",
    "ArchiveRecord",
    "Journal",
    "Projected",
    "Projector",
    "RunResult",
    "RunSettings",
    "ScalpCollector",
    "SwingCollector",
    "check_swing_capacity",
    "check_symbols",
    "failure_cause",
    "fetch_master_list",
    "load_universe",
    "parse_universe",
    "project_journal",
    "read_journal",
    "read_pipeline_config",
    "run_archive_sink",
    "run_collection",
    "scalp_cycle_id",
    "swing_cycle_id",
    "swing_symbols",
]
