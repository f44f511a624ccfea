"""The embedded KIS simulator: KIS REST + WebSocket on loopback over a deterministic market.

```python
async with serve_simulator(SimConfig(seed=7, speed=20)) as sim:
    sim.rest_url, sim.ws_url, sim.app_key, sim.app_secret
    sim.faults.disconnect(); sim.truth.served(symbol="005930", channel="H0STCNT0")
```
"""

from ._auth import mask as mask
from ._auth import sim_credentials as sim_credentials
from ._clock import SimClock as SimClock
from ._config import SimConfig as SimConfig
from ._config import load_sim_config as load_sim_config
from ._faults import FaultKind as FaultKind
from ._faults import FaultSpec as FaultSpec
from ._market import Book as Book
from ._market import Quote as Quote
from ._market import SessionHours as SessionHours
from ._market import SimMarket as SimMarket
from ._market import SymbolInfo as SymbolInfo
from ._market import Trade as Trade
from ._market import tick_of as tick_of
from ._server import SimFaults as SimFaults
from ._server import SimStartError as SimStartError
from ._server import Simulator as Simulator
from ._server import default_trading_day as default_trading_day
from ._server import run_simulator as run_simulator
from ._server import serve_simulator as serve_simulator
from ._truth import FaultRecord as FaultRecord
from ._truth import GroundTruth as GroundTruth
from ._truth import ServedRecord as ServedRecord
from ._truth import TruthEvent as TruthEvent
from ._wire import ASP_FIELDS as ASP_FIELDS
from ._wire import CNT_FIELDS as CNT_FIELDS

__all__ = [
    "ASP_FIELDS",
    "CNT_FIELDS",
    "Book",
    "FaultKind",
    "FaultRecord",
    "FaultSpec",
    "GroundTruth",
    "Quote",
    "ServedRecord",
    "SessionHours",
    "SimClock",
    "SimConfig",
    "SimFaults",
    "SimMarket",
    "SimStartError",
    "Simulator",
    "SymbolInfo",
    "Trade",
    "TruthEvent",
    "default_trading_day",
    "load_sim_config",
    "mask",
    "run_simulator",
    "serve_simulator",
    "sim_credentials",
    "tick_of",
]
