"""kis-observer pipeline: the event model and the stages. Knows no broker and no file."""

from ._codec import ENCODER as ENCODER
from ._codec import LEDGER_DECODER as LEDGER_DECODER
from ._codec import RAW_DECODER as RAW_DECODER
from ._codec import SNAPSHOT_DECODER as SNAPSHOT_DECODER
from ._codec import encode as encode
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
from ._ticks import TICK_TABLE as TICK_TABLE
from ._ticks import ceil_to_tick as ceil_to_tick
from ._ticks import floor_to_tick as floor_to_tick
from ._ticks import on_tick as on_tick
from ._ticks import tick_size as tick_size

__all__ = [
    "ENCODER",
    "KST",
    "LEDGER_DECODER",
    "LEDGER_SCHEMA_VERSION",
    "RAW_DECODER",
    "RAW_SCHEMA_VERSION",
    "SNAPSHOT_DECODER",
    "SNAPSHOT_SCHEMA_VERSION",
    "TICK_TABLE",
    "CollectionFailed",
    "CycleEnded",
    "CycleStarted",
    "Enrichment",
    "Environment",
    "FailureCause",
    "LedgerEntry",
    "Lineage",
    "Market",
    "Mode",
    "ObservationSnapshot",
    "RawEvent",
    "RestResponse",
    "ScalpStruck",
    "SessionPhase",
    "Source",
    "WsFrame",
    "ceil_to_tick",
    "encode",
    "floor_to_tick",
    "on_tick",
    "tick_size",
]
