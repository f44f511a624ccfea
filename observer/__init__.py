"""kis-observer: getting data in.

Broker adapters, the simulator, collectors, scheduling, status and the CLI.
"""

from ._errors import AuthError as AuthError
from ._errors import CollectionError as CollectionError
from ._errors import ConfigError as ConfigError
from ._errors import ConversionError as ConversionError
from ._errors import ObserverError as ObserverError
from ._errors import ProtocolError as ProtocolError
from ._errors import TransportError as TransportError

__all__ = [
    "AuthError",
    "CollectionError",
    "ConfigError",
    "ConversionError",
    "ObserverError",
    "ProtocolError",
    "TransportError",
]
