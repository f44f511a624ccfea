"""kis-observer pipeline: the event model and the stages. Knows no broker and no file."""

from ._codec import DECODE_ERRORS as DECODE_ERRORS
from ._codec import ENCODER as ENCODER
from ._codec import LEDGER_DECODER as LEDGER_DECODER
from ._codec import RAW_DECODER as RAW_DECODER
from ._codec import SNAPSHOT_DECODER as SNAPSHOT_DECODER
from ._codec import encode as encode
from ._config import DEFAULT_PHASES as DEFAULT_PHASES
from ._config import EnrichmentConfig as EnrichmentConfig
from ._config import GuardConfig as GuardConfig
from ._config import ModeGuardConfig as ModeGuardConfig
from ._config import PhaseStart as PhaseStart
from ._config import PipelineConfig as PipelineConfig
from ._config import ValidationConfig as ValidationConfig
from ._config import config_mapping as config_mapping
from ._config import decode_config as decode_config
from ._config import decode_config_toml as decode_config_toml
from ._errors import ConservationError as ConservationError
from ._errors import DuplicateCycleError as DuplicateCycleError
from ._errors import LedgerError as LedgerError
from ._errors import PipelineConfigError as PipelineConfigError
from ._errors import PipelineError as PipelineError
from ._errors import UnknownCycleError as UnknownCycleError
from ._ledger import CycleLedger as CycleLedger
from ._ledger import loss_count as loss_count
from ._ledger import loss_rate as loss_rate
from ._model import KST as KST
from ._model import LEDGER_SCHEMA_VERSION as LEDGER_SCHEMA_VERSION
from ._model import RAW_SCHEMA_VERSION as RAW_SCHEMA_VERSION
from ._model import SNAPSHOT_SCHEMA_VERSION as SNAPSHOT_SCHEMA_VERSION
from ._model import CollectionFailed as CollectionFailed
from ._model import CycleEnded as CycleEnded
from ._model import CycleStarted as CycleStarted
from ._model import Enrichment as Enrichment
from ._model import Environment as Environment
from ._model import FailureCause as FailureCause
from ._model import LedgerEntry as LedgerEntry
from ._model import Lineage as Lineage
from ._model import Market as Market
from ._model import Mode as Mode
from ._model import ObservationSnapshot as ObservationSnapshot
from ._model import RawEvent as RawEvent
from ._model import RestResponse as RestResponse
from ._model import ScalpStruck as ScalpStruck
from ._model import SessionPhase as SessionPhase
from ._model import Source as Source
from ._model import WsFrame as WsFrame
from ._outcome import Admitted as Admitted
from ._outcome import Deduplicated as Deduplicated
from ._outcome import Dropped as Dropped
from ._outcome import DropReason as DropReason
from ._outcome import Outcome as Outcome
from ._outcome import Rejected as Rejected
from ._outcome import RejectReason as RejectReason
from ._pipeline import Pipeline as Pipeline
from ._stages import CONTENT_FIELDS as CONTENT_FIELDS
from ._stages import SymbolState as SymbolState
from ._stages import enrich as enrich
from ._stages import fold as fold
from ._stages import guard as guard
from ._stages import same_content as same_content
from ._stages import session_phase as session_phase
from ._stages import validate as validate
from ._ticks import TICK_TABLE as TICK_TABLE
from ._ticks import ceil_to_tick as ceil_to_tick
from ._ticks import floor_to_tick as floor_to_tick
from ._ticks import on_tick as on_tick
from ._ticks import tick_size as tick_size

__all__ = [
    "CONTENT_FIELDS",
    "DECODE_ERRORS",
    "DEFAULT_PHASES",
    "ENCODER",
    "KST",
    "LEDGER_DECODER",
    "LEDGER_SCHEMA_VERSION",
    "RAW_DECODER",
    "RAW_SCHEMA_VERSION",
    "SNAPSHOT_DECODER",
    "SNAPSHOT_SCHEMA_VERSION",
    "TICK_TABLE",
    "Admitted",
    "CollectionFailed",
    "ConservationError",
    "CycleEnded",
    "CycleLedger",
    "CycleStarted",
    "Deduplicated",
    "DropReason",
    "Dropped",
    "DuplicateCycleError",
    "Enrichment",
    "EnrichmentConfig",
    "Environment",
    "FailureCause",
    "GuardConfig",
    "LedgerEntry",
    "LedgerError",
    "Lineage",
    "Market",
    "Mode",
    "ModeGuardConfig",
    "ObservationSnapshot",
    "Outcome",
    "PhaseStart",
    "Pipeline",
    "PipelineConfig",
    "PipelineConfigError",
    "PipelineError",
    "RawEvent",
    "RejectReason",
    "Rejected",
    "RestResponse",
    "ScalpStruck",
    "SessionPhase",
    "Source",
    "SymbolState",
    "UnknownCycleError",
    "ValidationConfig",
    "WsFrame",
    "ceil_to_tick",
    "config_mapping",
    "decode_config",
    "decode_config_toml",
    "encode",
    "enrich",
    "floor_to_tick",
    "fold",
    "guard",
    "loss_count",
    "loss_rate",
    "on_tick",
    "same_content",
    "session_phase",
    "tick_size",
    "validate",
]
