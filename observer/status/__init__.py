"""The status endpoint and metrics of a running collector."""

from ._app import build_registry as build_registry
from ._app import serve_status as serve_status
from ._app import status_app as status_app
from ._state import QUOTE_METRIC_KEYS as QUOTE_METRIC_KEYS
from ._state import MeteredSendStream as MeteredSendStream
from ._state import RunState as RunState
from ._state import RunStatus as RunStatus
from ._state import StreamStats as StreamStats

__all__ = [
    "QUOTE_METRIC_KEYS",
    "MeteredSendStream",
    "RunState",
    "RunStatus",
    "StreamStats",
    "build_registry",
    "serve_status",
    "status_app",
]
